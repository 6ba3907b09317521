"""``ezpipe slurm``: settings from YAML under the options, and its usage errors."""

from __future__ import annotations

from ezpipe.cli import main
from ezpipe.slurm import load_settings


def test_yaml_settings_and_command_line_overrides(tmp_path):
    (tmp_path / "p.py").write_text("print('hi')\n")
    (tmp_path / "cluster.yaml").write_text(
        "resources:\n  ntasks: 8\n  time: '00:30:00'\n"
        "cluster:\n  partition: short\n  setup: ['module load mpi']\n  env: {A: '1'}\n"
        "resubmit: 1\n"
    )
    assert load_settings(tmp_path / "cluster.yaml")["resources"]["ntasks"] == 8
    argv = ["slurm", str(tmp_path / "p.py"), "--config", str(tmp_path / "cluster.yaml")]
    argv += ["-n", "4", "--setup", "source venv/bin/activate", "--env", "B=2", "-q"]
    argv += ["--output-dir", str(tmp_path / "jobs"), "--", "--out", "x y"]
    assert main(argv) == 0
    text = (tmp_path / "jobs" / "p.sbatch").read_text()
    assert "#SBATCH --ntasks=4\n" in text  # the option wins over the file
    assert "#SBATCH --time=00:30:00\n" in text and "#SBATCH --partition=short\n" in text
    assert "module load mpi\nsource venv/bin/activate\n" in text  # lists add up
    assert "export A=1\nexport B=2\n" in text
    assert "export EZPIPE_SLURM_RESUBMIT=1\n" in text
    assert f"{tmp_path / 'p.py'} --out 'x y' &" in text


def test_cli_usage_errors(tmp_path, capsys):
    (tmp_path / "p.py").write_text("")
    assert main(["slurm", str(tmp_path / "missing.py")]) == 3
    (tmp_path / "bad.yaml").write_text("resources: [1, 2\n")
    assert main(["slurm", str(tmp_path / "p.py"), "--config", str(tmp_path / "bad.yaml")]) == 3
    assert main(["slurm", str(tmp_path / "p.py"), "-n", "4", "--mpi", "none"]) == 3
    assert "independent 1-rank copies" in capsys.readouterr().err
