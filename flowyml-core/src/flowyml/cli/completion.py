"""``flowyml completion bash|zsh|fish``: a shell completion script, generated from the CLI's own parser.

argparse has no completion of its own; the script is static (a TAB starts no Python process) and
is rebuilt from :func:`flowyml.cli.main.build_parser`, so it never lists a command or flag that
does not exist. Install it with ``eval "$(flowyml completion bash)"`` (see ``docs/cli.md``).
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any, NamedTuple

SHELLS = ("bash", "zsh", "fish")
#: Positional arguments and option values completed as file names.
FILE_VALUES = frozenset({"target", "config"})
#: Positional arguments completed with the run ids of the run registry (newest first).
RUN_ID_VALUES = frozenset({"run_id"})
#: The command that lists them: the registry only, no backend call (a TAB stays quick).
RUN_IDS = "flowyml runs --quiet --limit 50 2>/dev/null"


class Option(NamedTuple):
    flags: list[str]
    help: str
    takes_value: bool
    choices: list[str]
    files: bool


class Node(NamedTuple):
    """One command (``""`` is ``flowyml`` itself, ``"schedule create"`` a nested one)."""

    path: str
    commands: dict[str, str]  # sub-command -> help
    options: list[Option]
    choices: list[str]  # values of a positional with choices (``stack list|show|validate``)
    files: bool  # a positional takes a file name (``run TARGET``)
    run_ids: bool  # a positional takes a run id (``status RUN_ID``)


def add_parser(sub: Any) -> None:
    """Register the ``completion`` subcommand on the CLI's subparsers."""
    parser = sub.add_parser("completion", help="print a shell completion script (bash, zsh or fish)")
    parser.add_argument(
        "shell", choices=SHELLS, help='the shell: add `eval "$(flowyml completion bash)"` to ~/.bashrc (see docs)'
    )


def cmd_completion(args: argparse.Namespace) -> int:
    from flowyml.cli.commands import out
    from flowyml.cli.main import build_parser

    out(render(args.shell, build_parser()).rstrip("\n"))
    return 0


def nodes(parser: argparse.ArgumentParser, path: str = "") -> list[Node]:
    """Every command of ``parser``, depth first; hidden ones (no help) are left out."""
    from flowyml.cli.main import subparsers

    helps = _subcommand_helps(parser)
    children = {n: p for n, p in subparsers(parser).items() if n in helps}
    options: list[Option] = []
    choices: list[str] = []
    files = run_ids = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        if action.option_strings:
            takes_value = action.nargs != 0
            values = [str(c) for c in action.choices] if action.choices else []
            options.append(
                Option(list(action.option_strings), action.help or "", takes_value, values, action.dest in FILE_VALUES)
            )
        elif action.choices:
            choices += [str(c) for c in action.choices]
        elif action.dest in FILE_VALUES:
            files = True
        elif action.dest in RUN_ID_VALUES:
            run_ids = True
    found = [Node(path, {n: helps[n] for n in children}, options, choices, files, run_ids)]
    for name, child in children.items():
        found += nodes(child, f"{path} {name}".strip())
    return found


def _subcommand_helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    helps: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.help and choice.help is not argparse.SUPPRESS and choice.dest != "step-runner":
                    helps[choice.dest] = choice.help
    return helps


def render(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell``."""
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](nodes(parser))


def _words(items: list[str]) -> str:
    return shlex.quote(" ".join(items))


def _assoc(name: str, table: dict[str, str]) -> str:
    body = "\n".join(f"  [{shlex.quote(k)}]={shlex.quote(v)}" for k, v in table.items())
    return f"{name}=(\n{body}\n)"


def _tables(all_nodes: list[Node]) -> str:
    """The data both bash and zsh scripts read: associative arrays keyed by command path."""
    commands, opts, valued, choices, files, run_ids = {}, {}, {}, {}, {}, {}
    for node in all_nodes:
        key = node.path or "_"
        commands[key] = " ".join(node.commands)
        opts[key] = " ".join(f for o in node.options for f in o.flags)
        valued[key] = " " + " ".join(f for o in node.options if o.takes_value for f in o.flags) + " "
        choices[key] = " ".join(node.choices)
        files[key] = "1" if node.files else ""
        run_ids[key] = "1" if node.run_ids else ""
        for o in node.options:
            for flag in o.flags:
                if o.choices:
                    choices[f"{key} {flag}"] = " ".join(o.choices)
                if o.files:
                    files[f"{key} {flag}"] = "1"
    return "\n".join(
        _assoc(n, t)
        for n, t in (
            ("_flowyml_commands", commands),
            ("_flowyml_options", opts),
            ("_flowyml_valued", valued),
            ("_flowyml_choices", choices),
            ("_flowyml_files", files),
            ("_flowyml_run_ids", run_ids),
        )
    )


_BASH = """# flowyml completion for bash (4+): eval "$(flowyml completion bash)"
declare -gA _flowyml_commands _flowyml_options _flowyml_valued _flowyml_choices _flowyml_files _flowyml_run_ids
{tables}

_flowyml() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" key="_" word prev i
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        prev="${{COMP_WORDS[i-1]}}"
        [[ $word == -* ]] && continue
        (( i > 1 )) && [[ ${{_flowyml_valued[$key]}} == *" $prev "* ]] && continue
        if [[ " ${{_flowyml_commands[$key]}} " == *" $word "* ]]; then
            [[ $key == _ ]] && key="$word" || key="$key $word"
        fi
    done
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    if (( COMP_CWORD > 1 )) && [[ ${{_flowyml_valued[$key]}} == *" $prev "* ]]; then
        if [[ -n ${{_flowyml_choices[$key $prev]}} ]]; then
            COMPREPLY=($(compgen -W "${{_flowyml_choices[$key $prev]}}" -- "$cur"))
        elif [[ -n ${{_flowyml_files[$key $prev]}} ]]; then
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
        return 0
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${{_flowyml_options[$key]}}" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "${{_flowyml_commands[$key]}} ${{_flowyml_choices[$key]}}" -- "$cur"))
        [[ -n ${{_flowyml_files[$key]}} ]] && COMPREPLY+=($(compgen -f -- "$cur"))
        [[ -n ${{_flowyml_run_ids[$key]}} ]] && COMPREPLY+=($(compgen -W "$({run_ids})" -- "$cur"))
    fi
    return 0
}}
complete -o filenames -F _flowyml flowyml
"""


def _bash(all_nodes: list[Node]) -> str:
    return _BASH.format(tables=_tables(all_nodes), run_ids=RUN_IDS)


_ZSH = """#compdef flowyml
# flowyml completion for zsh: eval "$(flowyml completion zsh)", or save as _flowyml on $fpath
typeset -gA _flowyml_commands _flowyml_options _flowyml_valued _flowyml_choices _flowyml_files _flowyml_help
typeset -gA _flowyml_run_ids
{tables}
{helps}

_flowyml() {{
    local key="_" word prev i
    local -a described
    for ((i = 2; i < CURRENT; i++)); do
        word="${{words[i]}}"
        prev="${{words[i-1]}}"
        [[ $word == -* ]] && continue
        (( i > 2 )) && [[ ${{_flowyml_valued[$key]}} == *" $prev "* ]] && continue
        if [[ " ${{_flowyml_commands[$key]}} " == *" $word "* ]]; then
            [[ $key == _ ]] && key="$word" || key="$key $word"
        fi
    done
    prev="${{words[CURRENT-1]}}"
    if (( CURRENT > 2 )) && [[ ${{_flowyml_valued[$key]}} == *" $prev "* ]]; then
        if [[ -n ${{_flowyml_choices[$key $prev]}} ]]; then
            compadd -- ${{=_flowyml_choices[$key $prev]}}
        elif [[ -n ${{_flowyml_files[$key $prev]}} ]]; then
            _files
        fi
        return 0
    fi
    if [[ ${{words[CURRENT]}} == -* ]]; then
        for word in ${{=_flowyml_options[$key]}}; do
            described+=("${{word}}:${{_flowyml_help[$key $word]}}")
        done
        _describe -t options option described
    else
        for word in ${{=_flowyml_commands[$key]}}; do
            described+=("${{word}}:${{_flowyml_help[$key $word]}}")
        done
        (( ${{#described}} )) && _describe -t commands command described
        [[ -n ${{_flowyml_choices[$key]}} ]] && compadd -- ${{=_flowyml_choices[$key]}}
        [[ -n ${{_flowyml_files[$key]}} ]] && _files
        [[ -n ${{_flowyml_run_ids[$key]}} ]] && compadd -- ${{(f)"$({run_ids})"}}
    fi
    return 0
}}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _flowyml "$@"
else
    compdef _flowyml flowyml
fi
"""


def _zsh_help(text: str) -> str:
    return text.replace(":", "\\:").replace("\n", " ")


def _zsh(all_nodes: list[Node]) -> str:
    helps: dict[str, str] = {}
    for node in all_nodes:
        key = node.path or "_"
        helps.update({f"{key} {n}": _zsh_help(h) for n, h in node.commands.items()})
        helps.update({f"{key} {f}": _zsh_help(o.help) for o in node.options for f in o.flags})
    return _ZSH.format(tables=_tables(all_nodes), helps=_assoc("_flowyml_help", helps), run_ids=RUN_IDS)


def _fish_text(text: str) -> str:
    return shlex.quote(text.replace("\n", " "))


def _fish_var(kind: str, path: str) -> str:
    return f"__flowyml_{kind}_" + "".join(c if c.isalnum() else "_" for c in (path or "_"))


_FISH_PATH = """function __flowyml_path --description 'the flowyml command being completed, e.g. schedule create'
    set -l key _
    set -l prev ''
    for word in (commandline -opc)[2..-1]
        set -l name (string replace -ra '[^a-zA-Z0-9]' _ -- $key)
        set -l valued __flowyml_valued_$name
        set -l cmds __flowyml_cmds_$name
        if string match -q -- '-*' $word
        else if contains -- $prev $$valued
        else if contains -- $word $$cmds
            if test $key = _
                set key $word
            else
                set key "$key $word"
            end
        end
        set prev $word
    end
    echo $key
end
"""


def _fish(all_nodes: list[Node]) -> str:
    """One ``complete`` line per command and flag, each under the condition that its command is the current one."""
    lines = ["# flowyml completion for fish: flowyml completion fish > ~/.config/fish/completions/flowyml.fish"]
    for node in all_nodes:
        valued = [f for o in node.options if o.takes_value for f in o.flags]
        lines.append(f"set -g {_fish_var('cmds', node.path)} {' '.join(node.commands)}".rstrip())
        lines.append(f"set -g {_fish_var('valued', node.path)} {' '.join(valued)}".rstrip())
    lines += [_FISH_PATH, "complete -c flowyml -f"]
    for node in all_nodes:
        condition = shlex.quote(f"test (__flowyml_path) = {shlex.quote(node.path or '_')}")
        for name, text in node.commands.items():
            lines.append(f"complete -c flowyml -n {condition} -a {name} -d {_fish_text(text)}")
        if node.choices:
            lines.append(f"complete -c flowyml -n {condition} -a {_words(node.choices)}")
        if node.files:
            lines.append(f"complete -c flowyml -n {condition} -F")
        if node.run_ids:
            lines.append(f"complete -c flowyml -n {condition} -a {shlex.quote(f'({RUN_IDS})')}")
        for option in node.options:
            parts = ["complete -c flowyml", f"-n {condition}"]
            for flag in option.flags:
                parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
            if option.takes_value:
                parts.append("-r" if option.files else "-x")
                if option.choices:
                    parts.append(f"-a {_words(option.choices)}")
                elif option.files:
                    parts.append("-F")
            parts.append(f"-d {_fish_text(option.help)}")
            lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"
