package main

import (
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/nn"
)

// preset is a named recipe (nn.Recipes) as values for the flags of `mnist
// train` that the user did not set. Flags given on the command line
// override it.
type preset struct {
	Name  string
	About string            // one line, for --help and errors
	Flags map[string]string // flag name → value
}

// presets are the recipes --preset names: every recipe of the table but the
// architectures' defaults (the one named like its model, which --model
// applies; see applyModelDefaults).
var presets = func() []preset {
	var ps []preset
	for _, r := range nn.Recipes() {
		if r.Name != r.Model {
			ps = append(ps, preset{Name: r.Name, About: r.About, Flags: recipeFlags(r)})
		}
	}
	return ps
}()

// recipeFlags returns r as `mnist train` flag values: the architecture and
// every hyperparameter the recipe sets (a flag whose value would be its
// off state, like --nesterov false or --warmup 0, is left out, so that the
// user's own flags and the other defaults apply as they would without a
// preset). The seed is the run's, not the recipe's.
func recipeFlags(r nn.Recipe) map[string]string {
	c := r.Config
	f := map[string]string{
		"model":     r.Model,
		"epochs":    strconv.Itoa(c.Epochs),
		"batch":     strconv.Itoa(c.Batch),
		"lr":        strconv.FormatFloat(float64(c.Schedule.Base), 'g', -1, 32),
		"optimizer": c.Optimizer.Name,
		"schedule":  c.Schedule.Name,
	}
	if r.Model == "mlp" {
		hidden := make([]string, len(r.Hidden))
		for i, h := range r.Hidden {
			hidden[i] = strconv.Itoa(h)
		}
		f["hidden"] = strings.Join(hidden, ",")
	}
	if c.Optimizer.Name == "sgd" {
		f["momentum"] = strconv.FormatFloat(float64(c.Optimizer.Momentum), 'g', -1, 32)
	}
	if c.Optimizer.Nesterov {
		f["nesterov"] = "true"
	}
	if c.Schedule.Warmup > 0 {
		f["warmup"] = strconv.Itoa(c.Schedule.Warmup)
	}
	if c.Optimizer.WeightDecay != 0 {
		f["weight-decay"] = strconv.FormatFloat(float64(c.Optimizer.WeightDecay), 'g', -1, 32)
	}
	if c.Augment.Enabled() {
		f["augment"] = "true"
	}
	if !c.Shuffle {
		f["no-shuffle"] = "true"
	}
	if c.Norm == (nn.Normalization{}) {
		f["no-normalize"] = "true"
	}
	return f
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
