package nn

// Recipe is a named way to train: an architecture and the hyperparameters
// to train it with.
type Recipe struct {
	Name  string
	About string // one line, for people: what it is and why
	// Model is "mlp" or "cnn"; Hidden, the mlp's hidden widths.
	Model  string
	Hidden []int
	// Config is the training configuration, seed 1. The schedule spans
	// Config.Epochs.
	Config TrainConfig
}

// recipes is the one table of recipes: the defaults of `mnist train` (the
// "mlp" and, with --model cnn, the "cnn": CNNRecipe), its --preset recipes
// and bench's tutorial workload read it. The "-best" ones were chosen by measured results
// (bench/RESULTS.md, "Recipes"; `make recipes` reproduces them): the
// highest mean test accuracy of seeds 1–3 within the budget (the
// mlp: 30 s of training on the 2-vCPU CPU; the cnn: 10 epochs).
var recipes = []Recipe{
	{
		// The README ("Choosing the defaults") says why.
		Name:   "mlp",
		About:  "the mlp's default: the tutorial's architecture to ≥ 97.5% test accuracy within 10 epochs: SGD with momentum 0.9 at lr 0.05, cosine schedule, batch 64",
		Model:  "mlp",
		Hidden: []int{64, 32},
		Config: TrainConfig{
			Epochs: 10, Batch: 64,
			Schedule:  Schedule{Name: "cosine", Base: 0.05, Epochs: 10},
			Optimizer: OptimizerConfig{Name: "sgd", Momentum: 0.9},
			Seed:      1, Shuffle: true, Norm: MNISTNormalization,
		},
	},
	{
		// The README ("A CNN for 99%+") has its per-epoch accuracies.
		Name:  "cnn",
		About: "the cnn's default: Adam at lr 0.001, cosine schedule over 4 epochs, batch 64",
		Model: "cnn",
		Config: TrainConfig{
			Epochs: 4, Batch: 64,
			Schedule:  Schedule{Name: "cosine", Base: 0.001, Epochs: 4},
			Optimizer: OptimizerConfig{Name: "adam"},
			Seed:      1, Shuffle: true, Norm: MNISTNormalization,
		},
	},
	{
		Name:   "tutorial",
		About:  "the PyTorch tutorial's exact settings (100 epochs, plain SGD lr 0.005, batch 64, no shuffle, raw pixels)",
		Model:  "mlp",
		Hidden: []int{64, 32},
		Config: TrainConfig{
			Epochs: 100, Batch: 64,
			Schedule:  Schedule{Name: "constant", Base: 0.005, Epochs: 100},
			Optimizer: OptimizerConfig{Name: "sgd"},
			Seed:      1,
		},
	},
	{
		Name:   "mlp-best",
		About:  "the tutorial's 784-64-32-10 mlp at its best within 30 s on a 2-vCPU CPU: 40 epochs, augmentation, weight decay 5e-4, SGD with momentum, cosine schedule",
		Model:  "mlp",
		Hidden: []int{64, 32},
		Config: TrainConfig{
			Epochs: 40, Batch: 64,
			Schedule:  Schedule{Name: "cosine", Base: 0.05, Epochs: 40},
			Optimizer: OptimizerConfig{Name: "sgd", Momentum: 0.9, WeightDecay: 0.0005},
			Seed:      1, Shuffle: true, Norm: MNISTNormalization, Augment: DefaultAugmentation,
		},
	},
	{
		Name:  "cnn-best",
		About: "the cnn at its best within 10 epochs: augmentation, weight decay 5e-4, SGD with Nesterov momentum, 1 warmup epoch then cosine",
		Model: "cnn",
		Config: TrainConfig{
			Epochs: 10, Batch: 64,
			Schedule:  Schedule{Name: "cosine", Base: 0.05, Epochs: 10, Warmup: 1},
			Optimizer: OptimizerConfig{Name: "sgd", Momentum: 0.9, Nesterov: true, WeightDecay: 0.0005},
			Seed:      1, Shuffle: true, Norm: MNISTNormalization, Augment: DefaultAugmentation,
		},
	},
}

// Recipes returns the table of recipes, the architectures' defaults first
// (a copy: changing it changes nothing here).
func Recipes() []Recipe {
	out := make([]Recipe, len(recipes))
	for i, r := range recipes {
		r.Hidden = append([]int(nil), r.Hidden...)
		out[i] = r
	}
	return out
}

// FindRecipe returns the recipe called name.
func FindRecipe(name string) (Recipe, bool) {
	for _, r := range Recipes() {
		if r.Name == name {
			return r, true
		}
	}
	return Recipe{}, false
}

// CNNRecipe is the cnn's default training recipe (the table's "cnn"), what
// `mnist train --model cnn` runs when no flag says otherwise: Adam at lr
// 0.001, annealed by a cosine schedule over 4 epochs, batch 64, MNIST
// normalisation, a fresh shuffle every epoch, no augmentation.
func CNNRecipe() TrainConfig {
	r, _ := FindRecipe("cnn")
	return r.Config
}
