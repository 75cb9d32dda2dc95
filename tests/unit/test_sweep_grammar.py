"""`train -m`'s words, read by Hydra's own parser and BasicSweeper: every form Hydra offers is either run or refused
in one sentence, before anything trains."""

import subprocess
import sys

import pytest

from face_vae.core.errors import UserError
from face_vae.sweep import combinations


def test_hydras_sweep_forms_expand_to_the_runs_hydra_would_make():
    assert combinations(["seed=1,2", "trainer.max_epochs=3"]) == [
        ["seed=1", "trainer.max_epochs=3"],
        ["seed=2", "trainer.max_epochs=3"],
    ]
    assert combinations(["seed=range(0,2)"]) == [["seed=0"], ["seed=1"]]
    assert combinations(["model/prior=glob(*)"]) == [["model/prior=gmm"], ["model/prior=normal"]], "a group's options"


@pytest.mark.parametrize(
    "words, said",
    [
        (["model.optimizer.lr=interval(0.001,0.01)"], "an interval is searched by an optimizer"),
        (["seed=glob(*)"], "seed=glob(*) sweeps no value"),
        (["seed=range(3,3)"], "seed=range(3,3) sweeps no value"),
        (["seed=choice()"], "Bad sweep override: Error parsing override 'seed=choice()'"),
        (["seed=1,2", "seed=3"], "seed given twice in the sweep"),
        (["seed=range(0,40)", "trainer.max_epochs=range(1,41)"], "The sweep has more than 1,000 runs"),
    ],
    ids=["interval", "glob of a plain key", "an empty range", "an empty choice", "a key twice", "too many runs"],
)
def test_every_sweep_that_cannot_run_is_one_sentence(words, said):
    with pytest.raises(UserError) as refused:
        combinations(words)
    assert said in str(refused.value) and "\n" not in str(refused.value)


def test_reading_a_sweep_loads_no_torch():
    """torch loads (seconds) only once the first run trains: a refused sweep is answered at once."""
    code = (
        "import sys\nfrom face_vae.sweep import combinations\ncombinations(['seed=1,2'])\nprint('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
