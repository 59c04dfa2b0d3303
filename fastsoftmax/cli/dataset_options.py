"""Options about the data sets: what ``--data`` takes, CIFAR-100's label set, and the
validation split of ``train``'s early stopping."""
import click

from fastsoftmax.cli.errors import InputError
from fastsoftmax.cli.options import FiniteFloatRange

#: The data sets ``--data`` reads, as the help of every command names them.
DATA_SETS_HELP = ("Data set: CIFAR-10 or CIFAR-100 (folder or archive), MNIST or "
                  "Fashion-MNIST (the folder of the four idx files, .gz or not), SVHN (the "
                  "folder of train_32x32.mat and test_32x32.mat), an image folder "
                  "root/<class>/, or the name of one `fastsoftmax data download` fetched "
                  "(cifar10, cifar100, mnist, fashion-mnist, svhn). Default: scikit-learn's "
                  "bundled digits images (no download).")

data_option = click.option("-d", "--data", type=click.Path(path_type=str), default=None,
                           help=DATA_SETS_HELP)

labels_option = click.option(
    "--labels", type=click.Choice(["fine", "coarse"]), default=None,
    help="CIFAR-100: its 100 classes (fine) or its 20 superclasses (coarse), named from its "
         "meta file. [default: fine]")

val_fraction_option = click.option(
    "--val-fraction", "val_fraction",
    type=FiniteFloatRange(0, 1, min_open=True, max_open=True), default=None,
    help="With --early-stopping: the share of the training rows held out (stratified, "
         "drawn with --seed) to decide when to stop; the JSON output and the model file "
         "record it with the size of each split. [default: 0.1]")


def set_validation_fraction(classifier, val_fraction):
    """Give ``classifier`` the ``--val-fraction`` (refused without early stopping)."""
    if val_fraction is None:
        return classifier
    if not classifier.early_stopping:
        raise InputError("--val-fraction is for --early-stopping (without it no validation "
                         "split is held out)")
    return classifier.set_params(validation_fraction=val_fraction)
