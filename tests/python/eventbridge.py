"""EventBridge + SQS on the test server (moto): a bus whose rule forwards everything to a queue.

    eventbridge.py setup ENDPOINT BUS      prints the queue URL
    eventbridge.py drain ENDPOINT QUEUE_URL prints every message body (the delivered events) as JSON
"""
import json
import sys

import boto3

command, endpoint, name = sys.argv[1:4]
session = boto3.session.Session(aws_access_key_id="eventlake-test", aws_secret_access_key="eventlake-test-secret",
                                region_name="us-east-1")
events = session.client("events", endpoint_url=endpoint)
sqs = session.client("sqs", endpoint_url=endpoint)

if command == "setup":
    events.create_event_bus(Name=name)
    queue_url = sqs.create_queue(QueueName=f"{name}-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"{name}-all", EventBusName=name, EventPattern=json.dumps({"source": ["clientevents"]}))
    events.put_targets(Rule=f"{name}-all", EventBusName=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    print(queue_url)
elif command == "drain":
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=name, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        for message in messages:
            bodies.append(json.loads(message["Body"]))
        sqs.delete_message_batch(QueueUrl=name, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    print(json.dumps(bodies))
