/*
 * tortie-cni-shim: the `tortie` CNI executable's fast path in C.
 *
 * A Node process costs ~23 ms before it runs a line; this costs ~1 ms. It
 * frames the environment the plugin reads (CNI_*, NODENAME, LOG_LEVEL) and
 * stdin to the CNI agent's Unix socket (frame format: cni/src/agent/frame.ts
 * and cni/DESIGN.md "Fast path"), writes the agent's stdout bytes, and exits
 * with its exit code.
 *
 * When no agent answers (no socket, refused, closed before a whole answer, a
 * malformed answer, or "not served"), it execs the Node plugin with the same
 * environment plus TORTIE_CNI_NO_AGENT=1, and the stdin it buffered (through
 * a memfd), so the plugin does the whole job itself. ADD and DEL are
 * idempotent, so repeating what a dead agent half-did is safe.
 *
 * Paths: the socket is $TORTIE_CNI_SOCKET or /var/run/tortie/cni.sock; the
 * fallback is $TORTIE_CNI_NODE running $TORTIE_CNI_PLUGIN, else the paths
 * compiled in (-DTORTIE_NODE=..., -DTORTIE_PLUGIN=...; scripts/setup.sh).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef TORTIE_NODE
#define TORTIE_NODE "/usr/bin/node"
#endif
#ifndef TORTIE_PLUGIN
#define TORTIE_PLUGIN "/usr/lib/tortie/dist/cni/src/main.js"
#endif
#define DEFAULT_SOCKET "/var/run/tortie/cni.sock"
#define FRAME_VERSION 1
#define MAX_FRAME_BYTES (1024 * 1024)
/* Past this the agent is presumed stuck and the plugin does the job itself (as cni/src/agent/client.ts). */
#define RESPONSE_TIMEOUT_SEC 60

extern char **environ;

struct buffer {
  unsigned char *data;
  size_t length;
  size_t capacity;
};

static void reserve(struct buffer *b, size_t more) {
  if (b->length + more <= b->capacity) return;
  size_t capacity = b->capacity ? b->capacity : 4096;
  while (capacity < b->length + more) capacity *= 2;
  unsigned char *data = realloc(b->data, capacity);
  if (data == NULL) {
    perror("tortie-cni-shim: out of memory");
    exit(1);
  }
  b->data = data;
  b->capacity = capacity;
}

static void append(struct buffer *b, const void *bytes, size_t n) {
  reserve(b, n);
  memcpy(b->data + b->length, bytes, n);
  b->length += n;
}

static void append_u32(struct buffer *b, uint32_t v) {
  unsigned char be[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
  append(b, be, 4);
}

static void put_u32(unsigned char *at, uint32_t v) {
  at[0] = (unsigned char)(v >> 24);
  at[1] = (unsigned char)(v >> 16);
  at[2] = (unsigned char)(v >> 8);
  at[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *at) {
  return ((uint32_t)at[0] << 24) | ((uint32_t)at[1] << 16) | ((uint32_t)at[2] << 8) | (uint32_t)at[3];
}

/* The environment the plugin reads: the same rule as frame.ts isForwardedEnv. */
static int is_forwarded(const char *entry) {
  return strncmp(entry, "CNI_", 4) == 0 || strncmp(entry, "NODENAME=", 9) == 0 || strncmp(entry, "LOG_LEVEL=", 10) == 0;
}

static int read_all(int fd, struct buffer *b) {
  for (;;) {
    reserve(b, 65536);
    ssize_t n = read(fd, b->data + b->length, b->capacity - b->length);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    b->length += (size_t)n;
  }
}

static int write_all(int fd, const unsigned char *bytes, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, bytes, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    bytes += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads exactly n bytes; -1 on error or early end of stream. */
static int read_exactly(int fd, unsigned char *into, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, into, n);
    if (r == 0) return -1;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    into += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Asks the agent. Returns the exit code to use, or -1 when the plugin must do the job itself. */
static int ask_agent(const struct buffer *stdin_bytes) {
  const char *path = getenv("TORTIE_CNI_SOCKET");
  if (path == NULL || *path == '\0') path = DEFAULT_SOCKET;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) return -1;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  struct timeval timeout = {.tv_sec = RESPONSE_TIMEOUT_SEC};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

  struct buffer frame = {0};
  append_u32(&frame, 0); /* length, filled in below */
  unsigned char version = FRAME_VERSION;
  append(&frame, &version, 1);
  size_t count_at = frame.length;
  append_u32(&frame, 0);
  uint32_t count = 0;
  for (char **e = environ; *e != NULL; e++) {
    if (!is_forwarded(*e)) continue;
    size_t n = strlen(*e);
    append_u32(&frame, (uint32_t)n);
    append(&frame, *e, n);
    count++;
  }
  put_u32(frame.data + count_at, count);
  append_u32(&frame, (uint32_t)stdin_bytes->length);
  append(&frame, stdin_bytes->data, stdin_bytes->length);
  put_u32(frame.data, (uint32_t)(frame.length - 4));
  int sent = write_all(fd, frame.data, frame.length);
  free(frame.data);
  if (sent != 0) {
    close(fd);
    return -1;
  }

  unsigned char header[7];
  if (read_exactly(fd, header, sizeof header) != 0) {
    close(fd);
    return -1;
  }
  uint32_t length = get_u32(header);
  if (length < 3 || length > MAX_FRAME_BYTES || header[4] != FRAME_VERSION || header[5] != 0) {
    /* Malformed, or status 1: this agent does not serve this config. */
    close(fd);
    return -1;
  }
  size_t stdout_length = length - 3;
  unsigned char *out = malloc(stdout_length ? stdout_length : 1);
  if (out == NULL || read_exactly(fd, out, stdout_length) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  if (write_all(STDOUT_FILENO, out, stdout_length) != 0) return 1;
  return header[6];
}

/* The Node plugin, doing the whole job, with the stdin this process already read. */
static void exec_plugin(const struct buffer *stdin_bytes, char **argv) {
  int fd = memfd_create("tortie-cni-stdin", 0);
  if (fd < 0 || write_all(fd, stdin_bytes->data, stdin_bytes->length) != 0 || lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, STDIN_FILENO) < 0) {
    perror("tortie-cni-shim: cannot pass stdin to the plugin");
    exit(1);
  }
  if (fd != STDIN_FILENO) close(fd);
  signal(SIGPIPE, SIG_DFL);
  setenv("TORTIE_CNI_NO_AGENT", "1", 1);
  const char *node = getenv("TORTIE_CNI_NODE");
  const char *plugin = getenv("TORTIE_CNI_PLUGIN");
  if (node == NULL || *node == '\0') node = TORTIE_NODE;
  if (plugin == NULL || *plugin == '\0') plugin = TORTIE_PLUGIN;
  int argc = 0;
  while (argv[argc] != NULL) argc++;
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) exit(1);
  args[0] = (char *)node;
  args[1] = (char *)plugin;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execv(node, args);
  fprintf(stderr, "tortie-cni-shim: cannot run %s %s: %s\n", node, plugin, strerror(errno));
  /* A CNI error object, so the runtime reports something useful. */
  printf("{\"cniVersion\":\"1.0.0\",\"code\":999,\"msg\":\"tortie-cni-shim: the agent did not answer and %s cannot be run: %s\"}\n", node, strerror(errno));
  exit(1);
}

int main(int argc, char **argv) {
  (void)argc;
  /* An agent that closes while we write must not kill us: we fall back instead. */
  signal(SIGPIPE, SIG_IGN);
  struct buffer stdin_bytes = {0};
  if (read_all(STDIN_FILENO, &stdin_bytes) != 0) stdin_bytes.length = 0;
  reserve(&stdin_bytes, 1);
  if (getenv("TORTIE_CNI_NO_AGENT") == NULL) {
    int code = ask_agent(&stdin_bytes);
    if (code >= 0) return code;
  }
  exec_plugin(&stdin_bytes, argv);
  return 1;
}
