"""`/api/jobs/<id>/`: a job's state, progress, result and error, for the user who submitted it
(and staff); for anybody else it does not exist (404). `POST /api/jobs/<id>/cancel/` cancels it.

Reading an unfinished job also settles it if its worker died (jobs.stalls), so a poller learns
of the failure even while no worker runs.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import stalls
from jobs.models import Job
from jobs.service import cancel


def visible_jobs(user):
    if user.is_staff and user.is_active:
        return Job.objects.all()
    return Job.objects.filter(user=user)


def get_job(request, pk: int) -> Job:
    job = visible_jobs(request.user).filter(pk=pk).first()
    if job is None:
        raise Http404(f"no job {pk}")
    if not job.finished and stalls.settle([job.pk]):
        job.refresh_from_db()
    return job


def absolute(request, value):
    if isinstance(value, str) and value.startswith("/"):
        return request.build_absolute_uri(value)
    return value


class StageSerializer(serializers.Serializer):
    name = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)


class ProgressSerializer(serializers.Serializer):
    stage = serializers.CharField(required=False, help_text="the stage now running")
    stages = StageSerializer(many=True, required=False,
                             help_text="each stage with its count so far and its total "
                                       "where known")
    fraction = serializers.FloatField(required=False, allow_null=True,
                                      help_text="0-1, where known")
    message = serializers.CharField(required=False)


class ConcernsSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="app_label.model, e.g. layers.layer")
    id = serializers.CharField()
    label = serializers.CharField()


class JobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    concerns = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Job
        fields = ("id", "kind", "state", "progress", "result", "error", "attempts", "user",
                  "concerns", "created_at", "started_at", "finished_at", "updated_at", "links")

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, job):
        return job.progress or {}

    @extend_schema_field(ConcernsSerializer(allow_null=True))
    def get_concerns(self, job):
        if not job.concerns_type_id:
            return None
        ct = job.concerns_type
        return {"type": f"{ct.app_label}.{ct.model}", "id": job.concerns_id,
                "label": job.concerns_label}

    def get_links(self, job) -> dict[str, str]:
        request = self.context["request"]
        links = {"self": request.build_absolute_uri(f"/api/jobs/{job.pk}/")}
        if not job.finished:
            links["cancel"] = request.build_absolute_uri(f"/api/jobs/{job.pk}/cancel/")
        # A kind puts its links (the file it made, the object it changed) in its result.
        result_links = (job.result or {}).get("links") if isinstance(job.result, dict) else None
        for name, value in (result_links or {}).items():
            links[name] = absolute(request, value)
        return links


class JobDetail(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={200: JobSerializer, 401: OpenApiResponse(description="not authenticated"),
                   404: OpenApiResponse(description="no such job, or not yours")},
        description="A job's state (queued, running, succeeded, failed, cancelled), progress "
                    "(stages with counts, a 0-1 fraction where known), result, error (a "
                    "precise message) and links (the result's download, where there is one). "
                    "Poll it until the state is final. Readable by the user who submitted the "
                    "job and by staff.")
    def get(self, request, pk: int):
        return Response(JobSerializer(get_job(request, pk), context={"request": request}).data)


class JobCancel(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={202: JobSerializer, 409: OpenApiResponse(description="already finished"),
                   404: OpenApiResponse(description="no such job, or not yours")},
        description="Cancel the job: a queued job at once; a running one stops at its next "
                    "progress report and nothing it wrote is kept.")
    def post(self, request, pk: int):
        job = get_job(request, pk)
        if not cancel(job, by=request.user):
            return Response({"detail": f"job {job.pk} already {job.state}"},
                            status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)
