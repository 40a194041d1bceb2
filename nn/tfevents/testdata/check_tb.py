"""Load a TensorBoard run directory with TensorBoard's own EventAccumulator
and print what it found as JSON, for nn/tfevents' TestTensorBoardReads.

usage: python3 check_tb.py RUN_DIR

Output: {"tags": {...}, "scalars": {tag: [[step, wall_time, value], ...]},
"images": {tag: [{"step", "width", "height", "png"}]},
"tensors": {tag: [{"step", "dtype", "strings"}]}, "text_tags": [...]}
"""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator as ea


def main(run_dir):
    # A size guidance of 0 keeps every event instead of a reservoir sample.
    guidance = {
        ea.SCALARS: 0,
        ea.IMAGES: 0,
        ea.TENSORS: 0,
        ea.HISTOGRAMS: 0,
        ea.COMPRESSED_HISTOGRAMS: 0,
        ea.AUDIO: 0,
    }
    acc = ea.EventAccumulator(run_dir, size_guidance=guidance)
    acc.Reload()
    tags = acc.Tags()
    out = {
        "tags": {k: (sorted(v) if isinstance(v, list) else v) for k, v in tags.items()},
        "scalars": {},
        "images": {},
        "tensors": {},
        "text_tags": [],
    }
    try:
        out["text_tags"] = sorted(acc.PluginTagToContent("text").keys())
    except KeyError:  # no value named the text plugin
        pass
    for tag in tags.get(ea.SCALARS, []):
        out["scalars"][tag] = [[e.step, e.wall_time, e.value] for e in acc.Scalars(tag)]
    for tag in tags.get(ea.IMAGES, []):
        out["images"][tag] = [
            {
                "step": e.step,
                "width": e.width,
                "height": e.height,
                "png": e.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n",
            }
            for e in acc.Images(tag)
        ]
    for tag in tags.get(ea.TENSORS, []):
        out["tensors"][tag] = [
            {
                "step": e.step,
                "dtype": e.tensor_proto.dtype,
                "strings": [s.decode("utf-8") for s in e.tensor_proto.string_val],
            }
            for e in acc.Tensors(tag)
        ]
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_tb.py RUN_DIR")
    main(sys.argv[1])
