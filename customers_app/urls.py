"""The dashboard's pages."""

from django.urls import path

from .views import audit, budget, bulk, customers, delete, detail, edit, erasure, export, imports, jobs, overview, team

app_name = "customers"

urlpatterns = [
    path("customers/", customers.customer_list_view, name="list"),
    path("customers/jump/", customers.customer_jump_view, name="jump"),
    path("overview/", overview.overview_view, name="overview"),
    path("customers/new/", edit.customer_create_view, name="create"),
    path("customers/import/", imports.import_upload_view, name="import"),
    path("customers/import/template.csv", imports.import_template_view, name="import-template"),
    path("customers/import/map/", imports.import_map_view, name="import-map"),
    path("customers/import/preview/", imports.import_preview_view, name="import-preview"),
    path("customers/import/confirm/", imports.import_confirm_view, name="import-confirm"),
    path("customers/import/cancel/", imports.import_cancel_view, name="import-cancel"),
    path("customers/export/", export.customer_export_view, name="export"),
    path("customers/bulk/", bulk.customer_bulk_view, name="bulk"),
    path("jobs/", jobs.job_list_view, name="jobs"),
    path("jobs/run/<uuid:job_id>/", jobs.background_job_view, name="background-job"),
    path("jobs/run/<uuid:job_id>/cancel/", jobs.background_job_cancel_view, name="background-job-cancel"),
    path("jobs/run/<uuid:job_id>/download/", jobs.background_job_download_view, name="background-job-download"),
    path("jobs/<str:async_action_id>/", jobs.job_detail_view, name="job"),
    path("jobs/<str:async_action_id>/rejected.csv", jobs.job_rejected_rows_view, name="job-rejected"),
    path("privacy/", erasure.privacy_request_list_view, name="privacy-requests"),
    path("privacy/new/", erasure.privacy_request_new_view, name="privacy-new"),
    path("privacy/<int:pk>/", erasure.privacy_request_detail_view, name="privacy-request"),
    path("privacy/<int:pk>/erase/", erasure.privacy_request_erase_view, name="privacy-erase"),
    path("privacy/<int:pk>/reject/", erasure.privacy_request_reject_view, name="privacy-reject"),
    path("privacy/<int:pk>/pack.zip", erasure.privacy_request_pack_view, name="privacy-pack"),
    path("erasures/", erasure.privacy_request_list_view, name="erasures"),
    path("erasures/<int:pk>/", erasure.erasure_detail_view, name="erasure"),
    path("erasures/<int:pk>/evidence/", erasure.erasure_evidence_view, name="erasure-evidence"),
    path("audit/", audit.audit_list_view, name="audit"),
    path("budget/", budget.budget_view, name="budget"),
    path("audit/export/", audit.audit_export_view, name="audit-export"),
    path("team/", team.team_list_view, name="team"),
    path("team/<int:user_id>/role/", team.team_role_view, name="team-role"),
    path("team/<int:user_id>/deactivate/", team.team_deactivate_view, name="team-deactivate"),
    path("team/<int:user_id>/sessions/revoke/", team.team_sessions_revoke_view, name="team-sessions-revoke"),
    path("account/log-out-everywhere/", team.sessions_end_all_view, name="log-out-everywhere"),
    # Ids may be source ids containing "/", so the suffixed routes come before the bare one.
    path("customers/<path:customer_id>/edit/", edit.customer_edit_view, name="edit"),
    path("customers/<path:customer_id>/activity/", detail.customer_activity_view, name="activity"),
    path("customers/<path:customer_id>/redeemables/", detail.customer_redeemables_view, name="redeemables"),
    path("customers/<path:customer_id>/segments/", detail.customer_segments_view, name="segments"),
    path("customers/<path:customer_id>/delete/", delete.customer_delete_view, name="delete"),
    path("customers/<path:customer_id>/erase/", erasure.customer_erase_view, name="erase"),
    path("customers/<path:customer_id>/history/", audit.customer_history_view, name="history"),
    path("customers/<path:customer_id>/", detail.customer_detail_view, name="detail"),
]
