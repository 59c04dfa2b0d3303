"""``fastsoftmax predict``: class names and probabilities for image files."""
import click

from fastsoftmax.cli.building import load_pipeline
from fastsoftmax.cli.errors import handle_errors
from fastsoftmax.cli.options import json_option
from fastsoftmax.cli.output import echo, echo_json, message_of


@click.command()
@click.option("-m", "--model", "model_path", required=True,
              type=click.Path(dir_okay=False, path_type=str),
              help="A model file written by `fastsoftmax train --model`.")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--top-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many of the most probable classes to show per image.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse images with more pixels (a small file can decode to a huge "
                   "image). "
                   "[default: 100,000,000]")
@json_option
@handle_errors
def predict(model_path, images, top_k, max_pixels, as_json):
    """Predict the class of each IMAGE file (PNG, JPEG, ...).

    Images of another size than the training images are resized to it (anti-aliased,
    aspect ratio not kept), and turned to grayscale for models trained on grayscale
    images.  An unreadable image is reported by name on stderr, the others are still
    answered, and the exit code is then 2.  Large images are decoded at reduced
    size; images over --max-pixels are refused unread.
    """
    import numpy as np

    from fastsoftmax.data import read_image
    from fastsoftmax.data.folder import MAX_IMAGE_PIXELS

    pipe = load_pipeline(model_path)
    names = list(pipe.class_names or [str(c) for c in pipe.classes_])
    top_k = min(top_k, len(names))
    batch, ok_paths, failures = [], [], []
    for path in images:
        try:
            batch.append(pipe.resize(read_image(path, max_pixels=max_pixels or MAX_IMAGE_PIXELS,
                                                shrink_to=pipe.image_shape_[:2])))
            ok_paths.append(path)
        except (ValueError, OSError) as exc:
            failures.append({"image": path, "error": message_of(exc)})
    results = []
    if batch:
        proba = pipe.predict_proba(np.stack(batch))
        for path, p in zip(ok_paths, proba):
            order = np.argsort(-p, kind="stable")[:top_k]
            results.append({"image": path,
                            "top": [{"class": names[pipe.classes_[i]] if pipe.class_names else str(pipe.classes_[i]),
                                     "probability": float(p[i])} for i in order]})
    if as_json:
        echo_json({"predictions": results, "errors": failures})
    else:
        for item in results:
            best = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in item["top"])
            echo(f"{item['image']}: {best}")
    for failure in failures:
        echo(f"Error: {failure['error']}", err=True)
    if failures:
        raise SystemExit(2)
