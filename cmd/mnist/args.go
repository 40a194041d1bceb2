package main

import (
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// globalFlags are the flags accepted before the command as well as after it
// (`mnist --data-dir d train` and `mnist train --data-dir d`). Commands that
// read data define --data-dir themselves (so that their --help shows it):
// normalizeArgs gives a --data-dir written before such a command to the
// command, so that there is one value and one place that reads it; the
// app's own --data-dir is there for the other commands, which ignore it.
var globalFlags = map[string]bool{"data-dir": true} // name → takes a value

// normalizeArgs reorders a command line so that urfave/cli, which stops
// parsing flags at the first positional argument, sees every flag: people
// type flags anywhere (`mnist plot runs/a runs/b --out cmp.png`, as go, git
// and kubectl accept). The result is
//
//	prog [global flags] command [command flags] [--] [positional arguments]
//
// Flags that take a value keep it (`--top 3`, `--out=x`); a `--` ends the
// flags, and what follows it stays positional even when it starts with a
// dash; a lone "-" is a positional argument. Flags the command does not
// define stay among its flags, so that the parser reports them (with a
// suggestion). Subcommands of subcommands do not exist here.
func normalizeArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var global [][]string // global flags, each with its value
	var flags, positional []string
	var cmd *cli.Command
	cmdName := ""
	rest := args[1:]
	dashdash := false
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if dashdash {
			positional = append(positional, a)
			continue
		}
		if a == "--" {
			if cmd == nil && cmdName == "" {
				// `mnist -- x`: nothing to reorder.
				return args
			}
			dashdash = true
			continue
		}
		name, hasValue, isFlag := splitFlag(a)
		if !isFlag {
			if cmdName == "" {
				cmdName = a
				cmd = app.Command(a)
				if cmd == nil || len(cmd.Subcommands) > 0 || a == "help" {
					// An unknown command (reported with a suggestion by
					// the app's action) or help: leave the rest alone.
					out := []string{args[0]}
					for _, g := range global {
						out = append(out, g...)
					}
					return append(append(out, a), rest[i+1:]...)
				}
				continue
			}
			positional = append(positional, a)
			continue
		}
		// Which list does this flag go to, and does it take the next token?
		if takesValue, ok := globalFlags[name]; ok || cmd == nil {
			// -h, --help or a flag the parser reports take no value.
			global = append(global, appendFlag(nil, rest, &i, a, hasValue, takesValue))
			continue
		}
		takesValue := false
		if f := lookupFlag(cmd.Flags, name); f != nil {
			takesValue = flagTakesValue(f)
		}
		flags = appendFlag(flags, rest, &i, a, hasValue, takesValue)
	}
	// A global flag the command defines too (--data-dir for the commands
	// that read data) is given to the command, which then reads it from one
	// place whatever its position; the others stay before the command.
	out := []string{args[0]}
	var moved []string
	for _, g := range global {
		name, _, _ := splitFlag(g[0])
		if cmd != nil && commandDefines(cmd, name) {
			moved = append(moved, g...)
		} else {
			out = append(out, g...)
		}
	}
	if cmdName != "" {
		out = append(out, cmdName)
	}
	out = append(append(out, moved...), flags...)
	if dashdash || hasDashPrefix(positional) {
		out = append(out, "--")
	}
	return append(out, positional...)
}

// appendFlag appends the flag rest[*i] (and its value, the next token, when
// it takes one and was not written --name=value) to list.
func appendFlag(list, rest []string, i *int, a string, hasValue, takesValue bool) []string {
	list = append(list, a)
	if takesValue && !hasValue && *i+1 < len(rest) {
		*i++
		list = append(list, rest[*i])
	}
	return list
}

// splitFlag recognises "-x", "--name" and "--name=value".
func splitFlag(a string) (name string, hasValue, isFlag bool) {
	if len(a) < 2 || a[0] != '-' {
		return "", false, false
	}
	name = strings.TrimLeft(a, "-")
	if len(a)-len(name) > 2 || name == "" {
		return "", false, false
	}
	if eq := strings.IndexByte(name, '='); eq >= 0 {
		return name[:eq], true, true
	}
	return name, false, true
}

func hasDashPrefix(args []string) bool {
	for _, a := range args {
		if len(a) > 1 && a[0] == '-' {
			return true
		}
	}
	return false
}

func commandDefines(cmd *cli.Command, name string) bool {
	return lookupFlag(cmd.Flags, name) != nil
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	if name == "h" || name == "help" {
		return cli.HelpFlag
	}
	return nil
}

// flagTakesValue reports whether f consumes the next argument: every flag
// but a boolean one.
func flagTakesValue(f cli.Flag) bool {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		return d.TakesValue()
	}
	return true
}

// suggest returns the candidate closest to word, or "" when none is close
// enough to be a likely typo (an edit distance of at most a third of the
// word, and at least 1; a prefix of a candidate counts too).
func suggest(word string, candidates []string) string {
	best, bestD := "", len(word)/3+1
	if bestD < 2 {
		bestD = 2
	}
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		if c == word {
			continue
		}
		d := editDistance(word, c)
		if len(word) >= 3 && strings.HasPrefix(c, word) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Damerau–Levenshtein distance (with adjacent
// transpositions) between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// commandNames lists the visible commands and their aliases.
func commandNames(app *cli.App) []string {
	var names []string
	for _, c := range app.Commands {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	return append(names, "help")
}

// flagNames lists a command's flag names.
func flagNames(flags []cli.Flag) []string {
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	return names
}
