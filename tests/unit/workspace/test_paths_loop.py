"""A symbolic link loop is a path that leaves nothing: outside the workspace, never a crash."""

from mle3.paths import inside_workspace


def test_a_symlink_loop_is_not_inside(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "w.pt").symlink_to("w.pt")
    assert inside_workspace(tmp_path, "models/w.pt") is False
