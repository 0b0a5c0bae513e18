"""The seed's Iris demo (Beimingwu's README), against a local dock: only the imports changed,
and the client opens a local dock instead of logging in. Seed the dock first:

    python examples/seed_dock.py && python examples/iris_demo.py
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402

from dock import BaseUserInfo  # noqa: E402
from dock.reference_client import LearnwareClient  # noqa: E402
from specs import generate_stat_spec  # noqa: E402

# User prepare
client = LearnwareClient(home=os.environ.get("LWDOCK_HOME", "lwdock-demo-home"))
data, target = load_iris(return_X_y=True)

# Generate statistical specification
rkme = generate_stat_spec(type="table", X=data)
user_info = BaseUserInfo(stat_info={rkme.type: rkme})

# Search a single learnware
learnware_id = client.search_learnware(user_info)["single"]["learnware_ids"][0]
print(f"Search result: {learnware_id}")

# Load learnware
learnware = client.load_learnware(learnware_id=learnware_id, runnable_option="conda")

# Reuse learnware
y_pred = learnware.predict(data)
print(f"Classification accuracy: {accuracy_score(target, y_pred)}")
