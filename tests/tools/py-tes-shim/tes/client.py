"""HTTPClient: the part of py-tes's client that Snakemake uses."""

import requests

from tes.models import Task


class HTTPClient:
    def __init__(self, url, timeout=10, user=None, password=None, token=None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = "Bearer " + token

    def _check(self, response):
        if response.status_code // 100 != 2:
            raise requests.HTTPError(
                f"[STATUS CODE - {response.status_code}]\t[RESPONSE]: {response.text}")
        return response.json()

    def create_task(self, task):
        body = task.as_dict() if hasattr(task, "as_dict") else task
        r = requests.post(self.url + "/v1/tasks", json=body, headers=self.headers,
                          timeout=self.timeout)
        return self._check(r)["id"]

    def get_task(self, task_id, view="BASIC"):
        r = requests.get(self.url + "/v1/tasks/" + task_id, params={"view": view},
                         headers=self.headers, timeout=self.timeout)
        return Task.from_dict(self._check(r))

    def cancel_task(self, task_id):
        r = requests.post(self.url + "/v1/tasks/" + task_id + ":cancel", headers=self.headers,
                          timeout=self.timeout)
        return self._check(r)

    def list_tasks(self, view="MINIMAL", page_size=None, page_token=None):
        params = {"view": view}
        if page_size:
            params["page_size"] = page_size
        if page_token:
            params["page_token"] = page_token
        r = requests.get(self.url + "/v1/tasks", params=params, headers=self.headers,
                         timeout=self.timeout)
        return self._check(r)

    def get_service_info(self):
        r = requests.get(self.url + "/v1/service-info", headers=self.headers,
                         timeout=self.timeout)
        return self._check(r)
