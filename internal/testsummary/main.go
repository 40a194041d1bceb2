// Command testsummary reads `go test -json` on its standard input, prints
// what plain `go test` prints (each package's ok/FAIL line, the output of
// failing tests, build errors), and ends with one line that says how many
// tests were skipped and why, so that a person running `make test` sees what
// did not run without reading -v output:
//
//	skipped: 3 (2 TensorBoard reader not installed: pip install tensorboard; 1 no CUDA device)
//
// With -record FILE it appends the skips to FILE (one JSON object a line),
// and with -summarize FILE it prints only the summary line of the skips
// recorded there (`make test` ends with it). It exits 1 when a test or a
// build failed, so that a pipeline's status is the tests'.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output, build-fail
}

// skip is one skipped test and its reason.
type skip struct {
	Package, Test, Reason string
}

func main() {
	record := flag.String("record", "", "append the skipped tests to this file")
	summarize := flag.String("summarize", "", "print the summary of the skips recorded in this file, and nothing else")
	flag.Parse()
	if *summarize != "" {
		skips, err := readRecord(*summarize)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			os.Exit(1)
		}
		fmt.Println(summary(skips))
		return
	}
	skips, failed, err := filter(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	if *record != "" {
		if err := appendRecord(*record, skips); err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			os.Exit(1)
		}
	}
	fmt.Println(summary(skips))
	if failed {
		os.Exit(1)
	}
}

// filter copies what plain `go test` would print from the JSON stream in to
// out, and returns the skipped tests and whether anything failed.
func filter(in io.Reader, out io.Writer) (skips []skip, failed bool, err error) {
	outputs := map[string][]string{} // package + test → its output so far
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil || e.Action == "" {
			fmt.Fprintf(out, "%s\n", line) // not JSON: go vet or build output
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "build-fail":
			failed = true
		case "output":
			if e.Test == "" {
				if !isVerboseNoise(e.Output) {
					fmt.Fprint(out, e.Output)
				}
				continue
			}
			outputs[key] = append(outputs[key], e.Output)
		case "fail":
			failed = true
			if e.Test != "" {
				fmt.Fprint(out, strings.Join(outputs[key], ""))
			}
			delete(outputs, key)
		case "skip":
			if e.Test != "" {
				skips = append(skips, skip{e.Package, e.Test, skipReason(outputs[key])})
			}
			delete(outputs, key)
		case "pass":
			delete(outputs, key)
		}
	}
	return skips, failed, sc.Err()
}

// isVerboseNoise is the package-level output -json adds to plain go test's.
func isVerboseNoise(s string) bool {
	return s == "PASS\n" || strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- PASS") || strings.HasPrefix(s, "--- SKIP")
}

var location = regexp.MustCompile(`^\s*[\w./-]+\.go:\d+: `)

// skipReason is the first line of the message a test gave t.Skip, without
// its file:line prefix.
func skipReason(output []string) string {
	for _, o := range output {
		t := strings.TrimSpace(o)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		if loc := location.FindString(o); loc != "" {
			return strings.TrimSpace(strings.TrimPrefix(o, loc))
		}
	}
	return "no reason given"
}

// summary is the one line: how many tests were skipped, by reason, the most
// frequent first. Subtests skipped for their parent's reason count once per
// subtest.
func summary(skips []skip) string {
	if len(skips) == 0 {
		return "skipped: none"
	}
	seen := map[skip]bool{}
	count := map[string]int{}
	n := 0
	for _, s := range skips {
		if seen[s] {
			continue
		}
		seen[s] = true
		count[s.Reason]++
		n++
	}
	reasons := make([]string, 0, len(count))
	for r := range count {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if count[reasons[i]] != count[reasons[j]] {
			return count[reasons[i]] > count[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		if len(r) > 160 {
			r = r[:157] + "..."
		}
		parts[i] = fmt.Sprintf("%d %s", count[r], r)
		if len(reasons) == 1 {
			parts[i] = r
		}
	}
	return fmt.Sprintf("skipped: %d (%s)", n, strings.Join(parts, "; "))
}

func appendRecord(path string, skips []skip) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, s := range skips {
		if err := enc.Encode(s); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func readRecord(path string) ([]skip, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var skips []skip
	dec := json.NewDecoder(f)
	for {
		var s skip
		if err := dec.Decode(&s); err == io.EOF {
			return skips, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		skips = append(skips, s)
	}
}
