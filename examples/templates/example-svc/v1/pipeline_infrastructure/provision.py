# The pipeline sees every instance with its outputs, as Proton's pipeline templates did.
import json

doc = json.load(open("proton-inputs.json"))
endpoints = [i["outputs"]["Endpoint"] for i in doc["service_instances"]]
print(f"pipeline for {doc['service']['name']} on branch {doc['pipeline']['inputs']['branch']} deploys to {len(endpoints)} instance(s)")
json.dump({"Targets": ",".join(endpoints)}, open("proton-outputs.json", "w"))
