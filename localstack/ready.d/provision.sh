#!/bin/sh
# LocalStack init hook: creates what `podops provision` creates, with the same
# names, keys, index, TTL, lifecycle rule and redrive policy
# (functions/adapters/src/aws/provision.rs; keep the two in step). Idempotent.
# A podops binary mounted at /opt/podops/podops runs instead, so nothing can drift.
set -eu

TABLE=${PODOPS_TABLE:-podops}
MEDIA_BUCKET=${PODOPS_MEDIA_BUCKET:-podops-media}
PUBLIC_BUCKET=${PODOPS_PUBLIC_BUCKET:-podops-public}
QUEUE=${PODOPS_QUEUE:-podops-jobs}
MAX_RECEIVES=${PODOPS_MAX_RECEIVES:-5}

if [ -f /opt/podops/podops ] && [ -x /opt/podops/podops ]; then
  exec /opt/podops/podops provision --endpoint http://localhost:4566 --table "$TABLE" \
    --media-bucket "$MEDIA_BUCKET" --public-bucket "$PUBLIC_BUCKET" --queue "$QUEUE" --max-receives "$MAX_RECEIVES"
fi

# The table: pk/sk, the owner index gsi1, on-demand, TTL on expires_at.
if ! awslocal dynamodb describe-table --table-name "$TABLE" >/dev/null 2>&1; then
  awslocal dynamodb create-table --table-name "$TABLE" --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
                            AttributeName=gsi1pk,AttributeType=S AttributeName=gsi1sk,AttributeType=S \
    --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
    --global-secondary-indexes 'IndexName=gsi1,KeySchema=[{AttributeName=gsi1pk,KeyType=HASH},{AttributeName=gsi1sk,KeyType=RANGE}],Projection={ProjectionType=ALL}' \
    >/dev/null
  awslocal dynamodb wait table-exists --table-name "$TABLE"
fi
ttl=$(awslocal dynamodb describe-time-to-live --table-name "$TABLE" --query 'TimeToLiveDescription.TimeToLiveStatus' --output text)
if [ "$ttl" != ENABLED ] && [ "$ttl" != ENABLING ]; then
  awslocal dynamodb update-time-to-live --table-name "$TABLE" \
    --time-to-live-specification Enabled=true,AttributeName=expires_at >/dev/null
fi

# The buckets, each expiring cut-off multipart puts (they go to ~staging/).
for bucket in "$MEDIA_BUCKET" "$PUBLIC_BUCKET"; do
  awslocal s3api head-bucket --bucket "$bucket" >/dev/null 2>&1 || awslocal s3api create-bucket --bucket "$bucket" >/dev/null
  if ! awslocal s3api get-bucket-lifecycle-configuration --bucket "$bucket" >/dev/null 2>&1; then
    awslocal s3api put-bucket-lifecycle-configuration --bucket "$bucket" --lifecycle-configuration \
      '{"Rules":[{"ID":"podops-staging-cleanup","Filter":{"Prefix":"~staging/"},"Status":"Enabled","Expiration":{"Days":1},"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1}}]}'
  fi
done

# The dead-letter queue, then the jobs queue redriving to it.
dlq_url=$(awslocal sqs create-queue --queue-name "$QUEUE-dlq" --query QueueUrl --output text)
awslocal sqs set-queue-attributes --queue-url "$dlq_url" --attributes MessageRetentionPeriod=1209600
dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn --query Attributes.QueueArn --output text)
queue_url=$(awslocal sqs create-queue --queue-name "$QUEUE" --query QueueUrl --output text)
redrive="{\\\"deadLetterTargetArn\\\":\\\"$dlq_arn\\\",\\\"maxReceiveCount\\\":\\\"$MAX_RECEIVES\\\"}"
awslocal sqs set-queue-attributes --queue-url "$queue_url" \
  --attributes "{\"VisibilityTimeout\":\"300\",\"RedrivePolicy\":\"$redrive\"}"

echo "podops: provisioned table $TABLE, buckets $MEDIA_BUCKET and $PUBLIC_BUCKET, queues $QUEUE and $QUEUE-dlq"
