"""The seed's Digits demo (Beimingwu's README), against a local dock: only the imports changed,
and the client opens a local dock instead of logging in. Seed the dock first:

    python examples/seed_dock.py && python examples/digits_demo.py
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402

from dock import BaseUserInfo  # noqa: E402
from dock.reference_client import LearnwareClient  # noqa: E402
from dock.reuse import AveragingReuser  # noqa: E402
from specs import generate_stat_spec  # noqa: E402

# User prepare
client = LearnwareClient(home=os.environ.get("LWDOCK_HOME", "lwdock-demo-home"))
data, target = load_digits(return_X_y=True)

# Generate statistical specification
rkme = generate_stat_spec(type="table", X=data)
user_info = BaseUserInfo(stat_info={rkme.type: rkme})

# Search multiple learnwares
learnware_ids = client.search_learnware(user_info)["multiple"]["learnware_ids"]
print(f"Search result: {learnware_ids}")

# Load learnware
learnware_list = client.load_learnware(learnware_id=learnware_ids, runnable_option="conda")

# Reuse learnware
y_pred = AveragingReuser(learnware_list, mode="vote_by_label").predict(data)
print(f"Classification accuracy: {accuracy_score(target, y_pred)}")
