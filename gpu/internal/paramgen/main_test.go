package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedFilesFresh fails when params.h changed and `go generate
// ./gpu/` was not run: the committed files must be what paramgen writes.
func TestGeneratedFilesFresh(t *testing.T) {
	consts, structs, err := parse("../../../kernels/params.h")
	if err != nil {
		t.Fatal(err)
	}
	if len(consts) == 0 || len(structs) == 0 {
		t.Fatalf("params.h: %d constants, %d structs", len(consts), len(structs))
	}
	src, err := goSource(consts, structs)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{"../../params_gen.go": src, "../emu/csrc/layout_gen.h": cSource(structs)} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./gpu/", path)
		}
	}
}

// TestParseRefuses checks that C outside the subset paramgen reads is an
// error, not a silently wrong layout.
func TestParseRefuses(t *testing.T) {
	for _, src := range []string{
		"typedef struct {\n\tdouble x;\n} p;\n",
		"typedef struct {\n\tuint64_t x;\n",
		"enum {\n\tA = B,\n};\n",
		"#define X (1 << 2)\n",
		"struct p { int32_t x; };\n",
	} {
		path := t.TempDir() + "/params.h"
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := parse(path); err == nil {
			t.Errorf("parse(%q): no error", src)
		}
	}
}
