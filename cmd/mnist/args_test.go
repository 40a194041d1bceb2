package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

// TestNormalizeArgs: flags anywhere on the command line reach the parser,
// with their values, in front of the positional arguments (urfave/cli stops
// at the first positional); the README's own examples are among the rows.
func TestNormalizeArgs(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, tc := range []struct{ in, want string }{
		// The README's examples that failed before.
		{"plot runs/a runs/b --out cmp.png", "plot --out cmp.png runs/a runs/b"},
		{"predict --model m.safetensors d.png --top 3", "predict --model m.safetensors --top 3 d.png"},
		// Already in order: unchanged.
		{"--data-dir d train --epochs 1", "train --data-dir d --epochs 1"},
		{"train --epochs 1", "train --epochs 1"},
		// --data-dir anywhere: given to a command that reads data, kept
		// global for one that does not.
		{"train --epochs 1 --data-dir d", "train --data-dir d --epochs 1"},
		{"plot --data-dir d runs/a", "--data-dir d plot runs/a"},
		{"plot runs/a --data-dir=d", "--data-dir=d plot runs/a"},
		// --name=value, boolean flags, values that look like commands.
		{"predict a.png --top=3 b.png --json", "predict --top=3 --json a.png b.png"},
		{"predict a.png --model train", "predict --model train a.png"},
		{"summary --dot --model cnn", "summary --dot --model cnn"},
		// -- ends the flags; what follows stays positional.
		{"predict --model m -- -odd.png --top", "predict --model m -- -odd.png --top"},
		{"predict x.png -- --top", "predict -- x.png --top"},
		// A positional argument that starts with a dash needs a -- in front.
		{"predict --model m -", "predict --model m -"},
		// Unknown flags stay with the command, for the parser to report.
		{"train --lrr 1", "train --lrr 1"},
		// help, unknown commands and bare invocations are left alone.
		{"help train", "help train"},
		{"trian --epochs 1", "trian --epochs 1"},
		{"--help", "--help"},
		{"", ""},
	} {
		in := append([]string{"mnist"}, strings.Fields(tc.in)...)
		want := append([]string{"mnist"}, strings.Fields(tc.want)...)
		if got := normalizeArgs(app, in); !slices.Equal(got, want) {
			t.Errorf("normalizeArgs(%q) = %q, want %q", tc.in, got[1:], want[1:])
		}
	}
}

func TestSuggestions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trian"}, "did you mean `mnist train`?"},
		{[]string{"evl"}, "did you mean `mnist eval`?"},
		{[]string{"predcit", "x.png"}, "did you mean `mnist predict`?"},
		{[]string{"train", "--lrr", "1"}, "did you mean --lr?"},
		{[]string{"train", "--epoch", "1"}, "did you mean --epochs?"},
		{[]string{"plot", "--ot", "x.png", "runs"}, "did you mean --out?"},
	} {
		r := inproc(t.Context(), tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("mnist %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	// Nothing close: no suggestion.
	r := inproc(t.Context(), "xyzzy")
	if r.code != 2 || strings.Contains(r.stderr, "did you mean") {
		t.Errorf("mnist xyzzy: exit %d, stderr %q; want 2 and no suggestion", r.code, r.stderr)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"train", "train", 0}, {"trian", "train", 1}, {"evl", "eval", 1}, {"abc", "", 3}, {"kitten", "sitting", 3}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}
