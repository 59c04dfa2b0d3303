"""Small learned features for the 8x8 digits, shared by the test modules that train them."""

#: 3x3 patches, 8 centroids (32 features), few patches: seconds, not minutes.
SMALL = {"patch_size": 3, "n_centroids": 8, "n_patches": 3000}
#: The same on the command line.
SMALL_ARGS = ["--features", "kmeans", "--patch-size", "3", "--n-centroids", "8",
              "--n-patches", "3000"]
#: Features ``train`` makes of the digits with :data:`SMALL_ARGS` and the command line's
#: defaults: (3 x 3 regions + the whole image) x 2 polarities x 8 atoms, folded in half
#: over the mirror.
CLI_WIDTH = 80
