/**
 * Plain aligned columns, as calicoctl and kubectl print them: upper-case
 * headers, each column as wide as its widest cell, three spaces between
 * columns, no trailing spaces. Pure.
 */
export const COLUMN_GAP = '   ';

export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    widths
      .map((width, column) => (column === widths.length - 1 ? (cells[column] ?? '') : (cells[column] ?? '').padEnd(width)))
      .join(COLUMN_GAP)
      .trimEnd();
  return [line(headers), ...rows.map(line)].map((text) => `${text}\n`).join('');
}
