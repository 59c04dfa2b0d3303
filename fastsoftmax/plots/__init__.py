"""Figures of models and training runs (:mod:`.figures`) and of what a model learned
(:mod:`.model_pictures`); this module only re-exports."""
from fastsoftmax.plots.figures import (DEFAULT_DPI, FIGURE_FORMATS, check_figure_path,
                                       plot_confusion_matrix, plot_loss_curve, pyplot,
                                       save_figure, smooth)
from fastsoftmax.plots.model_pictures import (class_filters, confident_examples,
                                              dictionary_order, draw_confident_examples,
                                              plot_confident_examples,
                                              dictionary_tiles, draw_hog_weights,
                                              draw_kmeans_weights, hog_cell_weights,
                                              hog_glyph_segments, input_weights,
                                              plot_hog_weights, plot_kmeans_weights,
                                              plot_model_weights,
                                              pixel_templates, draw_pixel_templates,
                                              plot_pixel_templates)

__all__ = ["DEFAULT_DPI", "FIGURE_FORMATS", "check_figure_path", "class_filters",
           "confident_examples", "draw_confident_examples", "plot_confident_examples",
           "dictionary_order", "dictionary_tiles", "draw_hog_weights", "draw_kmeans_weights",
           "hog_cell_weights", "hog_glyph_segments", "input_weights", "plot_confusion_matrix",
           "plot_hog_weights", "plot_kmeans_weights", "plot_loss_curve", "plot_model_weights",
           "draw_pixel_templates", "pixel_templates", "plot_pixel_templates",
           "pyplot", "save_figure", "smooth"]
