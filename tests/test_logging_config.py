"""afnio.logging_config: afnio 0.3.7's logging set-up, without touching the root logger."""

import logging

import pytest

from afnio.logging_config import configure_logging, set_logger_level


@pytest.fixture
def afnio_logger():
    logger = logging.getLogger("afnio")
    saved = logger.level, logger.propagate, list(logger.handlers)
    yield logger
    logger.level, logger.propagate, logger.handlers[:] = saved


def test_configure_logging_leaves_the_root_logger_alone(afnio_logger, capsys):
    root = logging.getLogger()
    before = root.level, list(root.handlers)
    configure_logging("info")
    configure_logging("info")  # again: one handler, not two
    assert (root.level, list(root.handlers)) == before
    assert afnio_logger.level == logging.INFO and len(afnio_logger.handlers) == 1
    logging.getLogger("afnio.trainer").info("epoch done")
    logging.getLogger("afnio.trainer").debug("hidden")
    err = capsys.readouterr().err
    assert err == "INFO     : epoch done\n"


def test_debug_lines_carry_the_logger_name(afnio_logger, capsys):
    configure_logging("DEBUG")
    logging.getLogger("afnio.optim").debug("step")
    err = capsys.readouterr().err
    assert "afnio.optim" in err and "DEBUG" in err and err.rstrip().endswith("- step")


def test_configure_logging_checks_its_argument(afnio_logger):
    with pytest.raises(TypeError, match="`verbosity` must be a str"):
        configure_logging(10)
    with pytest.raises(ValueError, match="Unknown `verbosity` 'loud'"):
        configure_logging("loud")


def test_set_logger_level_restores_the_level():
    logger = logging.getLogger("afnio.tellurio.run")
    before = logger.level
    with set_logger_level("afnio.tellurio.run", "error"):
        assert logger.level == logging.ERROR
    assert logger.level == before
    with pytest.raises(RuntimeError), set_logger_level("afnio.tellurio.run", logging.WARNING):
        raise RuntimeError
    assert logger.level == before
    with pytest.raises(ValueError, match="Unknown `level`"), set_logger_level("afnio", "x"):
        pass
