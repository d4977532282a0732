/**
 * Text that others wrote (service logs, span names from any OTLP sender, health reports) is
 * shown in the user's terminal, where escape sequences are commands: clear the screen, rewrite
 * what was printed, set the window title, write the clipboard (OSC 52). Such text passes here
 * before msctl adds its own colours.
 */

/**
 * Whole escape sequences, in their 7-bit (ESC …) and 8-bit (C1) forms: CSI (colours, cursor,
 * erase); OSC, DCS, SOS, PM and APC strings up to BEL or ST, or to the end when unterminated
 * (a terminal would swallow the rest); any other ESC sequence (charset, reset).
 */
export const ESCAPE_SEQUENCES =
  /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]|(?:\u001b[\]PX^_]|[\u0090\u0098\u009d-\u009f])[\s\S]*?(?:\u0007|\u001b\\|\u009c|$)|\u001b[ -/]*[0-~]/g;

const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * `text` without escape sequences and control characters (C0, DEL, C1); tabs stay. Line breaks
 * stay with `newlines` (a stack trace) and become spaces otherwise, so one record stays one line.
 */
export function terminalSafe(text: string, options: { newlines?: boolean } = {}): string {
  return text
    .replace(ESCAPE_SEQUENCES, '')
    .replace(/\r?\n/g, options.newlines ? '\n' : ' ')
    .replace(CONTROLS, '');
}
