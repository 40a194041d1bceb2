package main

import (
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// preset is a named recipe: values for the flags of `mnist train` that the
// user did not set. Flags given on the command line override it.
type preset struct {
	Name  string
	About string            // one line, for --help and errors
	Flags map[string]string // flag name → value
}

// presets are the recipes --preset names. The "-best" ones were chosen by
// measured results (bench/RESULTS.md, "Recipes"; `make recipes` reproduces
// them): the highest mean test accuracy of seeds 1–3 within the issue's
// budget (the mlp: 30 s of training on the 2-vCPU CPU; the cnn: 10 epochs).
var presets = []preset{
	{
		Name:  "tutorial",
		About: "the PyTorch tutorial's exact settings (100 epochs, plain SGD lr 0.005, batch 64, no shuffle, raw pixels)",
		Flags: map[string]string{
			"model": "mlp", "hidden": "64,32", "epochs": "100", "batch": "64", "lr": "0.005", "optimizer": "sgd",
			"momentum": "0", "schedule": "constant", "no-shuffle": "true", "no-normalize": "true",
		},
	},
	{
		Name:  "mlp-best",
		About: "the tutorial's 784-64-32-10 mlp at its best within 30 s on a 2-vCPU CPU: 40 epochs, augmentation, weight decay 5e-4, SGD with momentum, cosine schedule",
		Flags: map[string]string{
			"model": "mlp", "hidden": "64,32", "epochs": "40", "batch": "64", "lr": "0.05", "optimizer": "sgd",
			"momentum": "0.9", "schedule": "cosine", "weight-decay": "0.0005", "augment": "true",
		},
	},
	{
		Name:  "cnn-best",
		About: "the cnn at its best within 10 epochs: augmentation, weight decay 5e-4, SGD with Nesterov momentum, 1 warmup epoch then cosine",
		Flags: map[string]string{
			"model": "cnn", "epochs": "10", "batch": "64", "lr": "0.05", "optimizer": "sgd", "momentum": "0.9",
			"nesterov": "true", "schedule": "cosine", "warmup": "1", "weight-decay": "0.0005", "augment": "true",
		},
	},
}

// findPreset returns the preset called name.
func findPreset(name string) (preset, bool) {
	for _, p := range presets {
		if p.Name == name {
			return p, true
		}
	}
	return preset{}, false
}

// presetNames lists the presets for messages: "tutorial, mlp-best and cnn-best".
func presetNames() string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.Name
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// presetUsage is the --preset flag's help: every preset with what it does.
func presetUsage() string {
	var b strings.Builder
	b.WriteString("a named recipe; flags given explicitly override it:")
	for _, p := range presets {
		b.WriteString("\n\t" + p.Name + ": " + p.About)
	}
	return b.String()
}

// applyPreset sets the preset's values on every flag the user did not set.
// A preset names its architecture, so an explicit --model of another one
// is refused rather than half-applied.
func applyPreset(c *cli.Context) error {
	name := c.String("preset")
	if name == "" {
		return nil
	}
	p, ok := findPreset(name)
	if !ok {
		return usageErrorf("unknown preset %q: the available presets are %s", name, presetNames())
	}
	if m := p.Flags["model"]; c.IsSet("model") && c.String("model") != m {
		return usageErrorf("--preset %s trains the %s: it cannot be combined with --model %s", name, m, c.String("model"))
	}
	keys := make([]string, 0, len(p.Flags))
	for k := range p.Flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !c.IsSet(k) {
			if err := c.Set(k, p.Flags[k]); err != nil {
				return err
			}
		}
	}
	return nil
}
