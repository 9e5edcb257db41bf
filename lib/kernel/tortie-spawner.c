/*
 * tortie-spawner: runs commands for a long-lived Node process (the CNI agent),
 * so that Node never forks itself.
 *
 * Forking an ~80 MB Node process costs ~6 ms of its (single) thread's CPU per
 * command; forking this ~1 MB process costs ~0.1 ms of its own. The Node side
 * (lib/kernel/spawner.ts) writes one request on our stdin and reads one
 * response on our stdout; we run one command at a time (the Node side keeps a
 * pool of us for parallelism).
 *
 * Frames (big-endian, as lib/kernel/spawner-frame.ts encodes and decodes them):
 *   request  = u32 length-of-rest | u32 id | u32 timeout ms
 *            | u32 n | n bytes netns path ("" = stay in ours)
 *            | u32 argc | argc x (u32 n | n bytes)        argv[0] is looked up in PATH
 *            | u32 envc | envc x (u32 n | "NAME=value")   set on top of our environment
 *            | u32 n | n bytes stdin
 *   response = u32 length-of-rest | u32 id | u8 outcome | i32 value
 *            | u32 n | stdout | u32 n | stderr
 *   outcome 0 exited (value = exit code), 1 killed (value = signal), 2 timed out
 *   (killed with SIGKILL), 3 could not start (value = errno; stderr says which step).
 *
 * In a namespace, the child only calls setns(CLONE_NEWNET) before exec, as
 * `nsenter --net=PATH` does (no mount namespace, no /sys remount).
 *
 * A malformed request is a bug in the Node side: we exit 2, it restarts us.
 * End of stdin (the Node process went away) ends us too; so does its death
 * (PR_SET_PDEATHSIG), even while a command runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST_BYTES (16u * 1024 * 1024)
#define MAX_OUTPUT_BYTES (64u * 1024 * 1024)

enum outcome { EXITED = 0, KILLED = 1, TIMED_OUT = 2, NOT_STARTED = 3 };

struct buffer {
  unsigned char *data;
  size_t length;
  size_t capacity;
};

static void die(const char *what) {
  fprintf(stderr, "tortie-spawner: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void reserve(struct buffer *b, size_t more) {
  if (b->length + more <= b->capacity) return;
  size_t capacity = b->capacity ? b->capacity : 4096;
  while (capacity < b->length + more) capacity *= 2;
  unsigned char *data = realloc(b->data, capacity);
  if (data == NULL) die("out of memory");
  b->data = data;
  b->capacity = capacity;
}

static void append(struct buffer *b, const void *bytes, size_t n) {
  reserve(b, n);
  memcpy(b->data + b->length, bytes, n);
  b->length += n;
}

static void append_u32(struct buffer *b, uint32_t v) {
  unsigned char be[4] = {v >> 24, v >> 16, v >> 8, v};
  append(b, be, 4);
}

/* Reads exactly n bytes; 0 at a clean end of input before the first byte, 1 when read, exits otherwise. */
static int read_exactly(int fd, unsigned char *into, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, into + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("reading a request");
    if (r == 0) {
      if (got == 0) return 0;
      fprintf(stderr, "tortie-spawner: input ended inside a request\n");
      exit(2);
    }
    got += (size_t)r;
  }
  return 1;
}

static void write_all(int fd, const unsigned char *bytes, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, bytes, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("writing a response");
    bytes += w;
    n -= (size_t)w;
  }
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* A cursor over one request body. */
struct reader {
  unsigned char *at;
  unsigned char *end;
};

static void malformed(const char *what) {
  fprintf(stderr, "tortie-spawner: malformed request: %s\n", what);
  exit(2);
}

static uint32_t take_u32(struct reader *r) {
  if (r->end - r->at < 4) malformed("truncated integer");
  uint32_t v = be32(r->at);
  r->at += 4;
  return v;
}

/* The next length-prefixed field, copied out as a NUL-terminated string (a NUL inside ends it early). */
static char *take_string(struct reader *r) {
  uint32_t n = take_u32(r);
  if ((uint32_t)(r->end - r->at) < n) malformed("field runs past the frame");
  unsigned char *s = r->at;
  r->at += n;
  char *copy = malloc(n + 1);
  if (copy == NULL) die("out of memory");
  memcpy(copy, s, n);
  copy[n] = '\0';
  return copy;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the child reports on its error pipe when it cannot exec: the step, then errno. */
struct start_failure {
  int step; /* 1 setns open, 2 setns, 3 exec */
  int err;
};

static void child(int in, int out, int err_fd, int report, const char *netns, char **argv, char **env) {
  /* Dies with this helper, so a command of a helper the Node side saw die cannot finish later. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err_fd, 2) < 0) _exit(127);
  struct start_failure failure = {0, 0};
  if (netns[0] != '\0') {
    int fd = open(netns, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      failure = (struct start_failure){1, errno};
    } else if (setns(fd, CLONE_NEWNET) < 0) {
      failure = (struct start_failure){2, errno};
    }
  }
  if (failure.step == 0) {
    for (char **e = env; *e != NULL; e++) putenv(*e);
    execvp(argv[0], argv);
    failure = (struct start_failure){3, errno};
  }
  ssize_t ignored = write(report, &failure, sizeof failure);
  (void)ignored;
  _exit(127);
}

static void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl");
}

static void pipe_cloexec(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) < 0) die("pipe");
}

/* Runs one request and appends its response (without the length prefix) to `response`. */
static void run(struct reader *r, struct buffer *response) {
  uint32_t id = take_u32(r);
  uint32_t timeout_ms = take_u32(r);
  char *netns = take_string(r);
  uint32_t argc = take_u32(r);
  if (argc == 0 || argc > 4096) malformed("argc");
  char **argv = calloc(argc + 1, sizeof *argv);
  if (argv == NULL) die("out of memory");
  for (uint32_t i = 0; i < argc; i++) argv[i] = take_string(r);
  uint32_t envc = take_u32(r);
  if (envc > 4096) malformed("envc");
  char **env = calloc(envc + 1, sizeof *env);
  if (env == NULL) die("out of memory");
  for (uint32_t i = 0; i < envc; i++) env[i] = take_string(r);
  uint32_t input_length = take_u32(r);
  if ((uint32_t)(r->end - r->at) != input_length) malformed("stdin length does not match the frame");
  unsigned char *input = r->at;

  int in[2], out[2], err[2], report[2];
  pipe_cloexec(in);
  pipe_cloexec(out);
  pipe_cloexec(err);
  pipe_cloexec(report);
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) child(in[0], out[1], err[1], report[1], netns, argv, env);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  close(report[1]);

  struct start_failure failure = {0, 0};
  ssize_t got;
  do got = read(report[0], &failure, sizeof failure);
  while (got < 0 && errno == EINTR);
  close(report[0]);

  struct buffer stdout_bytes = {0}, stderr_bytes = {0};
  int timed_out = 0;
  if (got == (ssize_t)sizeof failure) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
  } else {
    set_nonblocking(in[1]);
    size_t written = 0;
    int fds[3] = {input_length > 0 ? in[1] : -1, out[0], err[0]};
    if (input_length == 0) close(in[1]);
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
    while (fds[1] >= 0 || fds[2] >= 0) {
      struct pollfd p[3] = {{fds[0], POLLOUT, 0}, {fds[1], POLLIN, 0}, {fds[2], POLLIN, 0}};
      int wait = -1;
      if (deadline >= 0) {
        int64_t left = deadline - now_ms();
        wait = left > 0 ? (int)left : 0;
      }
      int ready = poll(p, 3, timed_out ? -1 : wait);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) die("poll");
      if (ready == 0 && !timed_out) {
        timed_out = 1;
        kill(pid, SIGKILL);
        continue;
      }
      if (fds[0] >= 0 && p[0].revents) {
        ssize_t w = write(fds[0], input + written, input_length - written);
        if (w > 0) written += (size_t)w;
        /* EPIPE: the command stopped reading; what it printed says why. */
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input_length) {
          close(fds[0]);
          fds[0] = -1;
        }
      }
      for (int i = 1; i <= 2; i++) {
        if (fds[i] < 0 || p[i].revents == 0) continue;
        struct buffer *b = i == 1 ? &stdout_bytes : &stderr_bytes;
        reserve(b, 65536);
        ssize_t n = read(fds[i], b->data + b->length, 65536);
        if (n > 0) {
          b->length += (size_t)n;
          if (b->length > MAX_OUTPUT_BYTES && !timed_out) {
            /* Never buffer without bound: treated like a timeout, the command is killed. */
            timed_out = 1;
            kill(pid, SIGKILL);
          }
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          close(fds[i]);
          fds[i] = -1;
        }
      }
    }
    if (fds[0] >= 0) close(fds[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }

  uint8_t outcome;
  int32_t value;
  if (got == (ssize_t)sizeof failure) {
    static const char *steps[] = {"", "open", "setns", "exec"};
    char message[4200];
    int n = snprintf(message, sizeof message, "%s %s: %s", steps[failure.step], failure.step == 3 ? argv[0] : netns, strerror(failure.err));
    append(&stderr_bytes, message, (size_t)(n < (int)sizeof message ? n : (int)sizeof message - 1));
    outcome = NOT_STARTED;
    value = failure.err;
  } else if (timed_out) {
    outcome = TIMED_OUT;
    value = SIGKILL;
  } else if (WIFSIGNALED(status)) {
    outcome = KILLED;
    value = WTERMSIG(status);
  } else {
    outcome = EXITED;
    value = WEXITSTATUS(status);
  }
  append_u32(response, id);
  append(response, &outcome, 1);
  append_u32(response, (uint32_t)value);
  append_u32(response, (uint32_t)stdout_bytes.length);
  if (stdout_bytes.length > 0) append(response, stdout_bytes.data, stdout_bytes.length);
  append_u32(response, (uint32_t)stderr_bytes.length);
  if (stderr_bytes.length > 0) append(response, stderr_bytes.data, stderr_bytes.length);

  free(stdout_bytes.data);
  free(stderr_bytes.data);
  for (uint32_t i = 0; i < argc; i++) free(argv[i]);
  free(argv);
  /* putenv keeps the strings only in the child, which has exec'd or exited. */
  for (uint32_t i = 0; i < envc; i++) free(env[i]);
  free(env);
  free(netns);
}

int main(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 0; /* The parent died before prctl took effect. */
  signal(SIGPIPE, SIG_IGN);
  struct buffer request = {0}, response = {0};
  for (;;) {
    unsigned char prefix[4];
    if (!read_exactly(0, prefix, 4)) return 0;
    uint32_t length = be32(prefix);
    if (length > MAX_REQUEST_BYTES) malformed("request too large");
    request.length = 0;
    reserve(&request, length);
    if (length > 0 && !read_exactly(0, request.data, length)) malformed("truncated request");
    struct reader r = {request.data, request.data + length};
    response.length = 0;
    append_u32(&response, 0);
    run(&r, &response);
    uint32_t rest = (uint32_t)(response.length - 4);
    unsigned char be[4] = {rest >> 24, rest >> 16, rest >> 8, rest};
    memcpy(response.data, be, 4);
    write_all(1, response.data, response.length);
  }
}
