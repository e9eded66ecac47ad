"""The first screen a user sees: the link the ablation prints, opened in a real headless
Chromium against a real `mlflow ui`, on a study of 500 trials."""

import json
import re
import shutil
import urllib.request

import pytest
from mlflow import MlflowClient

from .conftest import ROOT, mlflow_serving, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DATASETS = ["breast_cancer", "digits", "quadrants", "synthetic_linear"]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")
def test_the_printed_link_shows_the_study_at_a_glance(workdir, env):
    """The default study at 25 seeds (4 datasets x 5 arms x 25 = 500 trials): the printed link
    opens one closed group per dataset and the root run on the first screen, without "Load
    more"; a group opens onto its parent run and its trials. The parents carry their figures.
    The screenshots land in reports/ui/ for a maintainer to look at."""
    from playwright.sync_api import sync_playwright

    import yaml

    from pipeline.study import read_yaml

    # the default study file at 25 seeds and 1 epoch, as a file of its own: with --seeds on the
    # command line it would be a view, which records no verdicts or figures on the parents
    raw = read_yaml((ROOT / "studies/default.yaml").read_text())
    raw.update(seeds=25, epochs=1)
    for d in raw["datasets"]:
        if isinstance(d, dict):
            d.pop("epochs", None)
    (workdir / "studies").mkdir()
    (workdir / "studies/ui.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    proc = run_cli(["ablation", "--study", "studies/ui.yaml", "--no-pdf"], cwd=workdir, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    link = re.search(r"then (http://127\.0\.0\.1:5000/\S+)", proc.stdout).group(1)
    assert "viewStateShareKey=" in link and link.endswith("workflowType=machine_learning")
    report = (workdir / "reports/default-ablation/report.html").read_text()
    assert f'<a href="{link.replace("&", "&amp;")}">the study in the MLflow UI</a>' in report   # the report links the same view

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("default-ablation")
    assert len(client.search_runs([exp.experiment_id], "tags.kind = 'trial'", max_results=1000)) == 500
    # its columns: the test value of each metric the study reads (accuracy, and MSE for the regression set)
    from pipeline import runtree as rt

    from pipeline.ui_links import overview_key

    view = json.loads(exp.tags[rt.SHARED_VIEW_PREFIX + overview_key("default-ablation")])
    assert view["selectedColumns"][-2:] == ["metrics.`test_accuracy`", "metrics.`test_mse`"]
    for parent in client.search_runs([exp.experiment_id], "tags.kind = 'dataset'"):
        shown = {f.path for f in client.list_artifacts(parent.info.run_id, "figures")}
        assert {"figures/differences.png", "figures/curves.png", "figures/seeds.png"} <= shown, shown
    shots = ROOT / "reports" / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    with mlflow_serving(["ui", "--backend-store-uri", env["MLFLOW_TRACKING_URI"], "--workers", "1"],
                        workdir / "ui.log", cwd=workdir, env=env) as base, sync_playwright() as p:
        # one request before the browser's burst (see test_report's run-link test for why)
        warm = urllib.request.Request(f"{base}/ajax-api/2.0/mlflow/runs/search", method="POST",
                                      data=json.dumps({"experiment_ids": [exp.experiment_id], "max_results": 1}).encode(),
                                      headers={"Content-Type": "application/json"})
        assert json.load(urllib.request.urlopen(warm, timeout=60))["runs"]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(link.replace("http://127.0.0.1:5000", base))
        rows = {d: page.get_by_text(f"Group: {d}", exact=True) for d in DATASETS}
        for d, row in rows.items():
            row.wait_for(timeout=60_000)
            box = row.bounding_box()
            assert box and box["y"] + box["height"] < 900, f"{d}'s group is below the first screen"
        # in the study file's order (default.yaml's), as the ui_order tag sorts the parents
        tops = [rows[d].bounding_box()["y"] for d in ("digits", "breast_cancer", "synthetic_linear", "quadrants")]
        assert tops == sorted(tops), tops
        rest = page.get_by_text("Additional runs")   # the root run: no dataset tag
        assert rest.bounding_box()["y"] < 900
        assert page.get_by_text("quadrants/none/seed0", exact=True).count() == 0   # groups start closed
        page.screenshot(path=str(shots / "first-screen.png"))
        # a group opens onto its parent run and its trials, none of them needing "Load more"
        _open_group(page, "Group: quadrants")
        page.get_by_text("quadrants/none/seed0", exact=True).wait_for(timeout=30_000)
        assert page.get_by_text("quadrants", exact=True).count() >= 1           # the dataset's parent
        assert page.get_by_text("quadrants/l2@l2=0.01/seed3", exact=True).count() == 1   # trials of every arm, named by strength
        _open_group(page, "Additional runs")
        page.get_by_text("ablation default-ablation", exact=True).wait_for(timeout=30_000)
        page.screenshot(path=str(shots / "group-opened.png"))
        browser.close()


def _open_group(page, text: str) -> None:
    """Click the expander of the group row whose name cell shows `text`."""
    cell = page.locator("span.ag-cell-value", has_text=text).first
    cell.locator("span[role=button]").first.click()


def test_the_ui_lists_the_datasets_in_the_study_files_order(workdir, env):
    """The overview's sort (tags.ui_order ascending, as the shared view asks the UI for it): the
    root, then the dataset parents in the file's order, even one a `--datasets` run opened first
    (MLflow breaks ties newest first: equal tags listed the file backwards), then each dataset's
    trials seed by seed, none first within a seed."""
    from .conftest import tiny_study_dict, write_study

    files = ["wine", "synthetic_linear", "digits"]
    write_study(workdir / "order.yaml", tiny_study_dict(name="order", arms=["none", "l2"], epochs=1,
                                                        datasets=[{"name": d, "train_size": 60} for d in files]))
    for extra in (["--datasets", "digits"], []):
        proc = run_cli(["ablation", "--study", "order.yaml", "--no-report", *extra], cwd=workdir, env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("order").experiment_id
    runs = client.search_runs([exp], "tags.study = 'order'", order_by=["tags.`ui_order` ASC"])
    kinds = [r.data.tags["kind"] for r in runs]
    assert kinds == ["root"] * 2 + ["dataset"] * 3 + ["trial"] * 12, kinds   # a root per call
    assert [r.info.run_name for r in runs if r.data.tags["kind"] == "dataset"] == files
    for d in files:
        assert [r.info.run_name for r in runs if r.data.tags.get("dataset") == d and r.data.tags["kind"] == "trial"] == \
            [f"{d}/none/seed0", f"{d}/l2@l2=0.001/seed0", f"{d}/none/seed1", f"{d}/l2@l2=0.001/seed1"]
