"""Check a run directory written by `mnist train --logdir DIR` with
TensorBoard's own EventAccumulator: the Graphs tab's graph, a histogram of
every weight and its gradient per epoch, and the HParams tab's data.
For the GPU machine's check list (issue 18), where tensorboard is installed.

usage: python3 check_tb_run.py RUN_DIR
Prints one line per finding and "ok" at the end; exits 1 on any failure.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_tb  # noqa: E402  (beside this file)
from tensorboard.backend.event_processing import event_accumulator as ea  # noqa: E402


def main(run_dir):
    acc = ea.EventAccumulator(run_dir, size_guidance={ea.HISTOGRAMS: 0, ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    failures = []
    tags = acc.Tags()
    epochs = len(acc.Scalars("test/accuracy")) if "test/accuracy" in tags.get(ea.SCALARS, []) else 0
    if epochs == 0:
        failures.append("no test/accuracy scalars")

    if not tags.get(ea.GRAPH):
        failures.append("no graph (Graphs tab would be empty)")
    else:
        nodes = acc.Graph().node
        names = [n.name for n in nodes]
        print("graph: %d nodes, %s ... %s" % (len(nodes), names[0], names[-1]))
        if names[0] != "input/input" or names[-1] != "output/output":
            failures.append("graph does not run from input/input to output/output: %s" % names)
        for n in nodes:
            if not n.attr["_output_shapes"].list.shape:
                failures.append("graph node %s has no output shape" % n.name)
            for i in n.input:
                if i not in names:
                    failures.append("graph node %s takes unknown %s" % (n.name, i))

    hists = tags.get(ea.HISTOGRAMS, [])
    weights = [t for t in hists if not t.endswith(".grad")]
    print("histograms: %d tags: %s" % (len(hists), sorted(hists)))
    if not weights:
        failures.append("no weight histograms")
    for t in weights:
        if t + ".grad" not in hists:
            failures.append("no gradient histogram for %s" % t)
    for t in hists:
        events = acc.Histograms(t)
        if len(events) != epochs:
            failures.append("%s: %d histograms for %d epochs" % (t, len(events), epochs))
        for e in events:
            h = e.histogram_value
            if h.num <= 0 or sum(h.bucket) != h.num or not h.min <= h.max:
                failures.append("%s step %d: num %s, buckets sum %s, min %s max %s" % (t, e.step, h.num, sum(h.bucket), h.min, h.max))

    hp = check_tb.hparams(acc)
    print("hparams:", hp)
    exp = hp.get("experiment", {})
    if not exp.get("hparams"):
        failures.append("no hparams experiment")
    if "test/accuracy" not in exp.get("metrics", []):
        failures.append("hparams metrics lack test/accuracy")
    if set(hp.get("start", {})) != set(exp.get("hparams", {})):
        failures.append("session hparams %s differ from the experiment's %s" % (sorted(hp.get("start", {})), sorted(exp.get("hparams", {}))))
    if hp.get("end_status") != 1:
        failures.append("session end status %s, want 1 (success)" % hp.get("end_status"))

    for f in failures:
        print("FAIL:", f)
    if failures:
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_tb_run.py RUN_DIR")
    main(sys.argv[1])
