"""Figures of models and training runs (:mod:`.figures`); this module only re-exports."""
from fastsoftmax.plots.figures import (DEFAULT_DPI, FIGURE_FORMATS, check_figure_path,
                                       plot_confusion_matrix, plot_loss_curve, pyplot,
                                       save_figure, smooth)

__all__ = ["DEFAULT_DPI", "FIGURE_FORMATS", "check_figure_path", "plot_confusion_matrix",
           "plot_loss_curve", "pyplot", "save_figure", "smooth"]
