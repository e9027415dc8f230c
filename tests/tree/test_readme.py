"""The README's kernel table is the registry's (`./mechbench list --markdown`): adding a kernel means its file and
one line of kernels/kernels.def, then `make readme`; this test fails when the committed README lags behind."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("readme_kernels", ROOT / "scripts" / "readme_kernels.py")
readme_kernels = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_kernels)


def test_readme_table_is_the_registry():
    _, body, _ = readme_kernels.split((ROOT / "README.md").read_text())
    want = readme_kernels.table()
    assert body == want, "README kernel table differs from the registry: run `make readme` and commit README.md"


def test_every_registered_kernel_has_a_row():
    _, body, _ = readme_kernels.split((ROOT / "README.md").read_text())
    import subprocess
    names = [line.split()[0] for line in subprocess.run([str(ROOT / "mechbench"), "list"], capture_output=True,
                                                         text=True, check=True).stdout.splitlines()[1:]]
    assert len(names) > 40
    for name in names:
        assert f"`{name}`" in body, name
