"""S3 event notifications into SQS on the test server (moto), for `compact --follow --queue`.

    s3_notifications.py setup ENDPOINT BUCKET PREFIX   prints the URL of a new queue that gets the
                                                       bucket's ObjectCreated events under PREFIX
    s3_notifications.py send ENDPOINT QUEUE_URL BODY   sends BODY as one message (a duplicate
                                                       notification, or one that is not S3's)
    s3_notifications.py visible ENDPOINT QUEUE_URL     prints how many messages wait unreceived
    s3_notifications.py left ENDPOINT QUEUE_URL        prints how many messages are not deleted
"""
import sys
import uuid

import boto3

command, endpoint = sys.argv[1:3]
session = boto3.session.Session(aws_access_key_id="eventlake-test", aws_secret_access_key="eventlake-test-secret",
                                region_name="us-east-1")
sqs = session.client("sqs", endpoint_url=endpoint)

if command == "setup":
    bucket, prefix = sys.argv[3:5]
    s3 = session.client("s3", endpoint_url=endpoint)
    # A received message not deleted comes back after 2 s (the tests crash runs in between).
    queue_url = sqs.create_queue(QueueName=f"follow-{uuid.uuid4().hex[:12]}",
                                 Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
    }]})
    print(queue_url)
elif command == "send":
    queue_url, body = sys.argv[3:5]
    sqs.send_message(QueueUrl=queue_url, MessageBody=body)
elif command == "visible":
    queue_url = sys.argv[3]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    print(attributes["Attributes"]["ApproximateNumberOfMessages"])
elif command == "left":
    queue_url = sys.argv[3]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    print(int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]))
else:
    sys.exit(f"unknown command {command}")
