#!/usr/bin/env python3
"""The facts of infra/template.yaml that `podops provision` must agree with,
read with cfn-lint's own template loader (it understands !Ref, !Sub, …), as JSON."""
import json
import sys

from cfnlint.decode import decode

template, problems = decode(sys.argv[1])
if problems:
    sys.exit("cannot read the template: %s" % problems)
res = template["Resources"]


def keys(schema):
    return [[k["AttributeName"], k["KeyType"]] for k in schema]


table = res["Table"]["Properties"]
queue = res["JobsQueue"]["Properties"]
dlq = res["JobsDeadLetterQueue"]["Properties"]
media = res["MediaBucket"]["Properties"]
rules = media["LifecycleConfiguration"]["Rules"]
abort = [r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] for r in rules if "AbortIncompleteMultipartUpload" in r]
staging = [(r["Prefix"], r["ExpirationInDays"]) for r in rules if "ExpirationInDays" in r]
print(json.dumps({
    "table": {
        "keys": keys(table["KeySchema"]),
        "gsis": {g["IndexName"]: {"keys": keys(g["KeySchema"]), "projection": g["Projection"]["ProjectionType"]}
                 for g in table.get("GlobalSecondaryIndexes", [])},
        "ttl": table["TimeToLiveSpecification"]["AttributeName"] if table["TimeToLiveSpecification"]["Enabled"] else None,
        "billing": table["BillingMode"],
        "pitr": table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
    },
    "queue": {"visibility": int(queue["VisibilityTimeout"]), "max_receives": int(queue["RedrivePolicy"]["maxReceiveCount"])},
    "dlq": {"retention": int(dlq["MessageRetentionPeriod"])},
    "media": {
        "abort_incomplete_days": abort[0] if abort else None,
        "staging": [list(s) for s in staging],
        "public_access_block": media["PublicAccessBlockConfiguration"],
    },
}))
