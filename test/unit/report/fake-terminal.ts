// A minimal terminal for the tty renderer's tests: interprets the cursor and erase sequences that
// cli-progress and node:readline write, so a test reads the screen a person would see, not raw bytes.

/** A fake TTY stream (isTTY, columns) that keeps a screen of lines. */
export function fakeTerminal(columns = 100, rows?: number) {
  const screen: string[][] = [[]];
  let row = 0;
  let col = 0;
  let cursorVisible = true;
  const raw: string[] = [];
  const line = (r: number) => (screen[r] ??= []);
  const fill = () => {
    for (let r = 0; r <= row; r++) line(r);
  };
  const csi = (params: string, command: string) => {
    const n = params === '' ? 1 : Number(params);
    if (command === 'A') row = Math.max(0, row - n);
    else if (command === 'B') row += n;
    else if (command === 'C') col += n;
    else if (command === 'D') col = Math.max(0, col - n);
    else if (command === 'G') col = n - 1;
    else if (command === 'K') {
      const l = line(row);
      if (params === '2') l.length = 0;
      else if (params === '1') l.fill(' ', 0, col + 1);
      else l.length = Math.min(l.length, col);
    } else if (command === 'J') {
      line(row).length = Math.min(line(row).length, col);
      screen.length = row + 1;
    } else if (params === '?25' && command === 'l') cursorVisible = false;
    else if (params === '?25' && command === 'h') cursorVisible = true;
    fill();
  };
  const write = (text: string) => {
    raw.push(text);
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (c === '\u001b') {
        // eslint-disable-next-line no-control-regex -- escape sequences are what this parses
        const m = /^\u001b\[([?0-9;]*)([A-Za-z])/.exec(text.slice(i));
        if (m) {
          csi(m[1]!, m[2]!);
          i += m[0].length - 1;
        } else i += 1; // ESC 7 / ESC 8: save and restore, unused here
      } else if (c === '\n') {
        row += 1;
        col = 0;
        fill();
      } else if (c === '\r') col = 0;
      else {
        const l = line(row);
        while (l.length < col) l.push(' ');
        l[col] = c;
        col += 1;
      }
    }
    return true;
  };
  return {
    isTTY: true as const,
    columns,
    ...(rows !== undefined ? { rows } : {}),
    write,
    /** The screen's lines, trailing spaces removed, trailing empty lines dropped. */
    lines(): string[] {
      const out = screen.map((l) => l.join('').trimEnd());
      while (out.length > 0 && out[out.length - 1] === '') out.pop();
      return out;
    },
    raw: () => raw.join(''),
    cursorVisible: () => cursorVisible,
  };
}
