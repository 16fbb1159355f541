"""The case and responses the judge tests score."""

CASE = {
    "external_id": "j-1", "task": "omission_detection", "category": "proactive", "specialty": "haematology",
    "turns": [{"speaker": "Dr. Amari", "role": "attending", "text": "Start heparin at 18:00."},
              {"speaker": "Nurse Lee", "role": "nurse", "text": "Platelets fell from 250 to 90."}],
    "tables": [{"title": "Bloods", "columns": ["Test", "Value"], "rows": [["Platelets", 90]]}],
    "question": None, "reference_response": "Platelets have halved on heparin: check for HIT first.",
}
GOOD = "Platelets fell from 250 to 90 on heparin: hold it and send a HIT screen."
VAGUE = "Looks fine."
