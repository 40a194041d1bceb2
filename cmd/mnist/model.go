package main

import (
	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/nn"
)

// cnnRecipe is nn.CNNRecipe (the recipe table's "cnn") as flag values: it
// applies to every flag of `mnist train --model cnn` that the user did not
// set.
func cnnRecipe() map[string]string {
	r, _ := nn.FindRecipe("cnn")
	f := recipeFlags(r)
	delete(f, "model") // --model cnn is why it applies
	return f
}

// applyModelDefaults sets the recipe of the architecture --model names on
// every flag the user did not set (the mlp's recipe is the flags' own
// defaults).
func applyModelDefaults(c *cli.Context) error {
	if c.String("model") != "cnn" {
		return nil
	}
	recipe := cnnRecipe()
	for _, name := range sortedKeys(recipe) {
		if !c.IsSet(name) {
			if err := c.Set(name, recipe[name]); err != nil {
				return err
			}
		}
	}
	return nil
}

// specFromModelFlags returns the architecture that --model and --hidden
// name, for rows×cols images and classes classes: the mlp with the
// --hidden widths, or the cnn, whose architecture is fixed, so that an
// explicit --hidden is refused.
func specFromModelFlags(c *cli.Context, rows, cols, classes int) (nn.Spec, error) {
	name := c.String("model")
	if name == "cnn" {
		if c.IsSet("hidden") {
			return nn.Spec{}, usageErrorf("--hidden %s: the cnn's architecture is fixed (conv 5×5 32, pool, conv 5×5 64, pool, linear 128); --hidden sets the widths of the mlp", c.String("hidden"))
		}
		spec := nn.CNN(rows, cols, classes)
		if err := spec.Validate(); err != nil {
			return nn.Spec{}, usageError{err}
		}
		return spec, nil
	}
	hidden, err := nn.ParseHidden(c.String("hidden"))
	if err != nil {
		return nn.Spec{}, usageError{err}
	}
	spec := nn.Spec{Model: name, Rows: rows, Cols: cols, Hidden: hidden, Classes: classes}
	if err := spec.Validate(); err != nil {
		return nn.Spec{}, usageError{err}
	}
	return spec, nil
}
