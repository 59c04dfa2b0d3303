"""Options of the commands that read image folders: the image size and the split."""
import re

import click

from fastsoftmax.cli.options import MAX_SEED, FiniteFloatRange


class ImageSize(click.ParamType):
    """``WxH`` (width x height, e.g. ``32x32``) as the ``(height, width)`` the loaders take,
    two positive integers of at most as many pixels as an image may have."""

    name = "WxH"

    def convert(self, value, param, ctx):
        from fastsoftmax.data.folder import MAX_IMAGE_PIXELS

        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(value))
        if not match:
            self.fail(f"{value!r} is not WIDTHxHEIGHT in pixels, e.g. 32x32.", param, ctx)
        # a side of more than 12 digits is over the limit anyway (and int() of thousands
        # of digits is refused by Python)
        width, height = (int(side) if len(side) <= 12 else 10**12 for side in match.groups())
        if width < 1 or height < 1:
            self.fail(f"{value!r}: width and height must be at least 1.", param, ctx)
        if width * height > MAX_IMAGE_PIXELS:
            self.fail(f"{value!r} is {width * height:,} pixels, more than the limit of "
                      f"{MAX_IMAGE_PIXELS:,}.", param, ctx)
        return height, width


image_size_option = click.option(
    "--image-size", type=ImageSize(), default=None, metavar="WxH",
    help="Image folders: resize every image to WIDTHxHEIGHT pixels (anti-aliased), e.g. "
         "32x32. [default: no resizing; all images must then have one size]")


def split_options(func):
    """``--test-fraction`` and ``--split-seed``: how an image folder is split."""
    options = [
        click.option("--test-fraction", type=FiniteFloatRange(0, 1, min_open=True,
                                                              max_open=True),
                     default=None,
                     help="Image folders: the share of each class held out for testing. "
                          "[default: 0.2]"),
        click.option("--split-seed", type=click.IntRange(0, MAX_SEED), default=None,
                     help="Image folders: the seed of the stratified random split into "
                          "training and test images (--seed does not move it); the model "
                          "file records it with the training files. [default: 0]"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


include_training_option = click.option(
    "--include-training-images", "include_training", is_flag=True,
    help="Image folders: also score the images the model was trained on (by default they "
         "are left out, and counted); a warning says the accuracy is then not a held-out "
         "score.")
