// `aether completion bash|zsh|fish`: print a completion script generated from the command tree.
// Callers: cli/commands/index.ts.
import { UserError } from '../../shared/errors.js';
import { defineCommand } from '../command.js';
import { bashCompletion, fishCompletion, zshCompletion } from '../completion.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

export const completion = defineCommand<{ shell: Shell }>({
  name: 'completion <shell>',
  summary: 'print a shell completion script (bash, zsh, fish)',
  description: 'Print a completion script for SHELL on stdout, generated from the current command tree.',
  examples: [
    'aether completion bash > ~/.local/share/bash-completion/completions/aether',
    'aether completion zsh > "${fpath[1]}/_aether"',
    'aether completion fish > ~/.config/fish/completions/aether.fish',
    'source <(aether completion bash)',
  ],
  parse: ([shell]) => {
    if (!SHELLS.includes(shell as Shell)) throw new UserError('AETHER_BAD_ARGUMENT', `unsupported shell ${JSON.stringify(shell)} (want ${SHELLS.join(', ')})`);
    return { shell: shell as Shell };
  },
  handler: async (args, ctx) => {
    const program = ctx.program;
    if (!program) throw new Error('completion needs the command tree');
    const script = args.shell === 'bash' ? bashCompletion(program) : args.shell === 'zsh' ? zshCompletion(program) : fishCompletion(program);
    ctx.out.raw(script);
  },
});
