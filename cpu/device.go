package cpu

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// cpuModel returns the processor's model name from /proc/cpuinfo (Linux),
// or the architecture when that is not available.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			key, val, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(key) {
			case "model name", "Model", "cpu model", "Hardware":
				if v := strings.Join(strings.Fields(val), " "); v != "" {
					return v
				}
			}
		}
	}
	return runtime.GOARCH + " CPU"
}
