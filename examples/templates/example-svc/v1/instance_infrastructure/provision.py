# A service instance: uses its environment's outputs and its own inputs, reports an endpoint.
import json

doc = json.load(open("proton-inputs.json"))
env, inst = doc["environment"], doc["service_instance"]
endpoint = f"http://{inst['name']}.{env['outputs']['NetworkId']}.local:{inst['inputs']['port']}"
print(f"deploying {doc['service']['name']}/{inst['name']} x{inst['inputs']['replicas']} into {env['name']}: {endpoint}")
json.dump([{"key": "Endpoint", "valueString": endpoint}, {"key": "Greeting", "valueString": inst["inputs"]["greeting"]}], open("proton-outputs.json", "w"))
