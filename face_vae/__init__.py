"""face_vae: a variational autoencoder that learns and generates CelebA faces."""
