/** The names of relay's commands; `serve` is the default. */
export const COMMANDS = ["serve", "pub", "sub"];

/**
 * Puts `serve` in front when the first word is not a command, so `relay --seed host:port`
 * runs a node. `--version` and `--help` alone still reach the top-level command.
 */
export function withDefaultCommand(argv: string[], commands: string[] = COMMANDS): string[] {
  const first = argv[0];
  if (first === undefined) return ["serve"];
  if (commands.includes(first)) return argv;
  if (argv.length === 1 && ["--version", "-v", "--help", "-h"].includes(first)) return argv;
  return ["serve", ...argv];
}
