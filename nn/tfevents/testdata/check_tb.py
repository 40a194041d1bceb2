"""Load a TensorBoard run directory with TensorBoard's own EventAccumulator
and print what it found as JSON, for nn/tfevents' TestTensorBoardReads.

usage: python3 check_tb.py RUN_DIR

Output: {"tags": {...}, "scalars": {tag: [[step, wall_time, value], ...]},
"images": {tag: [{"step", "width", "height", "png"}]},
"tensors": {tag: [{"step", "dtype", "strings"}]}, "text_tags": [...],
"histograms": {tag: [{"step", "min", "max", "num", "buckets"}]},
"graph": [{"name", "op", "inputs", "shape"}] or null,
"hparams": {"experiment": {"hparams": {name: type}, "metrics": [tag]},
            "start": {name: value}, "end_status": int}}
"""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator as ea


def hparams(acc):
    """The run's HParams plugin data, parsed by the plugin's own code."""
    from tensorboard.plugins.hparams import metadata as hp

    try:
        content = acc.PluginTagToContent(hp.PLUGIN_NAME)
    except KeyError:
        return {}
    out = {}
    if hp.EXPERIMENT_TAG in content:
        exp = hp.parse_experiment_plugin_data(content[hp.EXPERIMENT_TAG])
        out["experiment"] = {
            "hparams": {h.name: h.type for h in exp.hparam_infos},
            "metrics": [m.name.tag for m in exp.metric_infos],
        }
    if hp.SESSION_START_INFO_TAG in content:
        start = hp.parse_session_start_info_plugin_data(content[hp.SESSION_START_INFO_TAG])
        values = {}
        for k, v in start.hparams.items():
            kind = v.WhichOneof("kind")
            values[k] = getattr(v, kind)
        out["start"] = values
    if hp.SESSION_END_INFO_TAG in content:
        end = hp.parse_session_end_info_plugin_data(content[hp.SESSION_END_INFO_TAG])
        out["end_status"] = end.status
    return out


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
        "histograms": {},
        "graph": None,
        "hparams": {},
    }
    for tag in tags.get(ea.HISTOGRAMS, []):
        out["histograms"][tag] = [
            {
                "step": e.step,
                "min": e.histogram_value.min,
                "max": e.histogram_value.max,
                "num": e.histogram_value.num,
                "buckets": len(e.histogram_value.bucket),
            }
            for e in acc.Histograms(tag)
        ]
    if tags.get(ea.GRAPH):
        graph = acc.Graph()
        out["graph"] = [
            {
                "name": n.name,
                "op": n.op,
                "inputs": list(n.input),
                "shape": [d.size for d in n.attr["_output_shapes"].list.shape[0].dim]
                if n.attr["_output_shapes"].list.shape
                else None,
            }
            for n in graph.node
        ]
    out["hparams"] = hparams(acc)
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
