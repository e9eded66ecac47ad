"""Writes studies/data/clinic.csv: a made-up clinic table with the mess real tables have, for
studies/messy_table.yaml (offline). Run `python studies/data/make_clinic.py` to write it again;
numpy's seeded generator makes it byte for byte the same.

Columns: patient_id (an id: drop it), age, glucose (0 = not measured), bmi (some blank),
smoker (never/former/current, some blank), region (text), and the target `outcome`
(tested_positive / tested_negative), which depends on glucose, bmi, age and smoking.
"""

from pathlib import Path

import numpy as np
import pandas as pd

N = 600


def make(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(21, 80, N)
    glucose = rng.normal(118, 30, N).clip(50, 220).round()
    bmi = rng.normal(31, 6.5, N).clip(16, 60).round(1)
    smoker = rng.choice(["never", "former", "current"], N, p=[0.55, 0.25, 0.2])
    region = rng.choice(["north", "south", "east", "west", "islands"], N, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    risk = 0.035 * (glucose - 118) + 0.08 * (bmi - 31) + 0.02 * (age - 45) + (smoker == "current") * 0.6
    positive = rng.random(N) < 1 / (1 + np.exp(-(risk - 0.7)))
    frame = pd.DataFrame({"patient_id": np.arange(1000, 1000 + N), "age": age, "glucose": glucose, "bmi": bmi,
                          "smoker": smoker.astype(object), "region": region,
                          "outcome": np.where(positive, "tested_positive", "tested_negative")})
    frame.loc[rng.choice(N, 40, replace=False), "glucose"] = 0        # not measured, written as 0
    frame.loc[rng.choice(N, 35, replace=False), "bmi"] = np.nan       # left blank
    frame.loc[rng.choice(N, 25, replace=False), "smoker"] = None      # left blank
    return frame


if __name__ == "__main__":
    make().to_csv(Path(__file__).with_name("clinic.csv"), index=False)
