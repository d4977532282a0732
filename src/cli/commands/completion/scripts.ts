/**
 * The completion scripts. Each one hands the words typed so far to `msctl __complete -- <words…>`
 * and offers its answer, so the scripts never change when commands do. When there is no answer
 * the shell falls back to file names (--project-dir, --report, scenario files…).
 */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

const bash = `# msctl completion for bash: source <(msctl completion bash)
_msctl_completion() {
  local IFS=$'\\n'
  COMPREPLY=($("\${COMP_WORDS[0]}" __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _msctl_completion msctl
`;

const zsh = `#compdef msctl
# msctl completion for zsh: source <(msctl completion zsh), or save it as _msctl in a folder of $fpath
_msctl() {
  local -a candidates
  candidates=("\${(@f)$("\${words[1]}" __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  candidates=(\${candidates:#})
  if (( \${#candidates} )); then
    compadd -- "\${candidates[@]}"
  else
    _files
  fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _msctl "$@"
else
  compdef _msctl msctl
fi
`;

const fish = `# msctl completion for fish: msctl completion fish > ~/.config/fish/completions/msctl.fish
function __msctl_complete
    set -l tokens (commandline -opc)
    set -l command $tokens[1]
    set -e tokens[1]
    # Quoted: an empty word being typed is still a word.
    set -l current (commandline -ct)
    $command __complete -- $tokens "$current" 2>/dev/null
end
complete -c msctl -f -a '(__msctl_complete)'
`;

export function completionScript(shell: Shell): string {
  return { bash, zsh, fish }[shell];
}
