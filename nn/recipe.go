package nn

// CNNRecipe is the cnn's default training recipe, what `mnist train --model
// cnn` runs when no flag says otherwise: Adam at lr 0.001, annealed by a
// cosine schedule over 4 epochs, batch 64, MNIST normalisation, a fresh
// shuffle every epoch, no augmentation. The README ("A CNN for 99%+") has
// the per-epoch accuracies measured with it.
func CNNRecipe() TrainConfig {
	const epochs = 4
	return TrainConfig{
		Epochs:    epochs,
		Batch:     64,
		Schedule:  Schedule{Name: "cosine", Base: 0.001, Epochs: epochs},
		Optimizer: OptimizerConfig{Name: "adam"},
		Seed:      1,
		Shuffle:   true,
		Norm:      MNISTNormalization,
	}
}
