# Reads proton-inputs.json as a CodeBuild-style Proton template would and reports outputs in
# proton-outputs.json. It creates nothing outside its working directory.
import json
import os

doc = json.load(open("proton-inputs.json"))
env = doc["environment"]
print(f"provisioning environment {env['name']} ({env['inputs']['tier']}, {env['inputs']['cidr']}) for {os.environ['RESOURCE_ARN']}")
outputs = {
    "NetworkId": f"net-{env['name']}",
    "Cidr": env["inputs"]["cidr"],
    "Tier": env["inputs"]["tier"],
}
json.dump(outputs, open("proton-outputs.json", "w"))
