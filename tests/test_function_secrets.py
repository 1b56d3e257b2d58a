import pytest

from faasml.function_secrets import read_secret, secrets_dir


def test_reads_the_file_named_by_the_secret(tmp_path):
    (tmp_path / "api-keys").write_text("k1\n")
    env = {"FAASML_SECRETS_DIR": str(tmp_path)}
    assert secrets_dir(env) == tmp_path
    assert read_secret("api-keys", env) == "k1"
    assert read_secret("absent", env) is None


def test_default_folder_is_the_cluster_one():
    assert str(secrets_dir({})) == "/var/openfaas/secrets"


@pytest.mark.parametrize("name", ["", "..", "../etc/passwd", "a/b", "a\0b"])
def test_names_cannot_leave_the_folder(tmp_path, name):
    with pytest.raises(ValueError):
        read_secret(name, {"FAASML_SECRETS_DIR": str(tmp_path)})
