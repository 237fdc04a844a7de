import os
import sys

import pytest

from conftest import REPO
from lsone.errors import InputError

sys.path.insert(0, os.path.join(REPO, "site_scons", "site_tools"))


def test_missing_node_names_the_way_out(tmp_path):
    pytest.importorskip("SCons")
    from web_ui import find_node_tools
    with pytest.raises(InputError) as e:
        find_node_tools(str(tmp_path))  # a PATH with neither node nor npm
    message = str(e.value)
    assert "needs Node.js and npm" in message and "no node and npm" in message
    assert "scons ui=none" in message and "apt-get install nodejs npm" in message
