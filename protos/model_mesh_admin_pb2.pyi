from . import model_mesh_pb2 as _model_mesh_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListModelsRequest(_message.Message):
    __slots__ = ("prefix", "limit", "startAfter")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STARTAFTER_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    limit: int
    startAfter: str
    def __init__(self, prefix: _Optional[str] = ..., limit: _Optional[int] = ..., startAfter: _Optional[str] = ...) -> None: ...

class ModelSummary(_message.Message):
    __slots__ = ("modelId", "type", "status", "locations", "lastUsedTime", "sizeInBytes", "vModelIds", "errors")
    MODELID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    LASTUSEDTIME_FIELD_NUMBER: _ClassVar[int]
    SIZEINBYTES_FIELD_NUMBER: _ClassVar[int]
    VMODELIDS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    modelId: str
    type: str
    status: _model_mesh_pb2.ModelStatusInfo.ModelStatus
    locations: _containers.RepeatedScalarFieldContainer[str]
    lastUsedTime: int
    sizeInBytes: int
    vModelIds: _containers.RepeatedScalarFieldContainer[str]
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, modelId: _Optional[str] = ..., type: _Optional[str] = ..., status: _Optional[_Union[_model_mesh_pb2.ModelStatusInfo.ModelStatus, str]] = ..., locations: _Optional[_Iterable[str]] = ..., lastUsedTime: _Optional[int] = ..., sizeInBytes: _Optional[int] = ..., vModelIds: _Optional[_Iterable[str]] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "nextStartAfter")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXTSTARTAFTER_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelSummary]
    nextStartAfter: str
    def __init__(self, models: _Optional[_Iterable[_Union[ModelSummary, _Mapping]]] = ..., nextStartAfter: _Optional[str] = ...) -> None: ...

class ListVModelsRequest(_message.Message):
    __slots__ = ("prefix", "limit", "startAfter")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STARTAFTER_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    limit: int
    startAfter: str
    def __init__(self, prefix: _Optional[str] = ..., limit: _Optional[int] = ..., startAfter: _Optional[str] = ...) -> None: ...

class VModelSummary(_message.Message):
    __slots__ = ("vModelId", "owner", "activeModelId", "targetModelId", "status")
    VMODELID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ACTIVEMODELID_FIELD_NUMBER: _ClassVar[int]
    TARGETMODELID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    vModelId: str
    owner: str
    activeModelId: str
    targetModelId: str
    status: _model_mesh_pb2.VModelStatusInfo.VModelStatus
    def __init__(self, vModelId: _Optional[str] = ..., owner: _Optional[str] = ..., activeModelId: _Optional[str] = ..., targetModelId: _Optional[str] = ..., status: _Optional[_Union[_model_mesh_pb2.VModelStatusInfo.VModelStatus, str]] = ...) -> None: ...

class ListVModelsResponse(_message.Message):
    __slots__ = ("vModels", "nextStartAfter")
    VMODELS_FIELD_NUMBER: _ClassVar[int]
    NEXTSTARTAFTER_FIELD_NUMBER: _ClassVar[int]
    vModels: _containers.RepeatedCompositeFieldContainer[VModelSummary]
    nextStartAfter: str
    def __init__(self, vModels: _Optional[_Iterable[_Union[VModelSummary, _Mapping]]] = ..., nextStartAfter: _Optional[str] = ...) -> None: ...

class ListInstancesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InstanceSummary(_message.Message):
    __slots__ = ("instanceId", "address", "capacityBytes", "usedBytes", "lruTime", "modelCount", "loadsInProgress", "shuttingDown", "labels", "zone", "leader")
    INSTANCEID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CAPACITYBYTES_FIELD_NUMBER: _ClassVar[int]
    USEDBYTES_FIELD_NUMBER: _ClassVar[int]
    LRUTIME_FIELD_NUMBER: _ClassVar[int]
    MODELCOUNT_FIELD_NUMBER: _ClassVar[int]
    LOADSINPROGRESS_FIELD_NUMBER: _ClassVar[int]
    SHUTTINGDOWN_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    instanceId: str
    address: str
    capacityBytes: int
    usedBytes: int
    lruTime: int
    modelCount: int
    loadsInProgress: int
    shuttingDown: bool
    labels: _containers.RepeatedScalarFieldContainer[str]
    zone: str
    leader: bool
    def __init__(self, instanceId: _Optional[str] = ..., address: _Optional[str] = ..., capacityBytes: _Optional[int] = ..., usedBytes: _Optional[int] = ..., lruTime: _Optional[int] = ..., modelCount: _Optional[int] = ..., loadsInProgress: _Optional[int] = ..., shuttingDown: bool = ..., labels: _Optional[_Iterable[str]] = ..., zone: _Optional[str] = ..., leader: bool = ...) -> None: ...

class ListInstancesResponse(_message.Message):
    __slots__ = ("instances",)
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[InstanceSummary]
    def __init__(self, instances: _Optional[_Iterable[_Union[InstanceSummary, _Mapping]]] = ...) -> None: ...

class ExplainModelRequest(_message.Message):
    __slots__ = ("modelId",)
    MODELID_FIELD_NUMBER: _ClassVar[int]
    modelId: str
    def __init__(self, modelId: _Optional[str] = ...) -> None: ...

class CopyExplanation(_message.Message):
    __slots__ = ("instanceId", "status", "time", "placedBecause", "error")
    INSTANCEID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    PLACEDBECAUSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    instanceId: str
    status: _model_mesh_pb2.ModelStatusInfo.ModelStatus
    time: int
    placedBecause: str
    error: str
    def __init__(self, instanceId: _Optional[str] = ..., status: _Optional[_Union[_model_mesh_pb2.ModelStatusInfo.ModelStatus, str]] = ..., time: _Optional[int] = ..., placedBecause: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class PlacementCandidate(_message.Message):
    __slots__ = ("instanceId", "wouldChoose", "reason")
    INSTANCEID_FIELD_NUMBER: _ClassVar[int]
    WOULDCHOOSE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    instanceId: str
    wouldChoose: bool
    reason: str
    def __init__(self, instanceId: _Optional[str] = ..., wouldChoose: bool = ..., reason: _Optional[str] = ...) -> None: ...

class ExplainModelResponse(_message.Message):
    __slots__ = ("status", "copies", "nextPlacement", "minCopies", "maxCopies")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COPIES_FIELD_NUMBER: _ClassVar[int]
    NEXTPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    MINCOPIES_FIELD_NUMBER: _ClassVar[int]
    MAXCOPIES_FIELD_NUMBER: _ClassVar[int]
    status: _model_mesh_pb2.ModelStatusInfo
    copies: _containers.RepeatedCompositeFieldContainer[CopyExplanation]
    nextPlacement: _containers.RepeatedCompositeFieldContainer[PlacementCandidate]
    minCopies: int
    maxCopies: int
    def __init__(self, status: _Optional[_Union[_model_mesh_pb2.ModelStatusInfo, _Mapping]] = ..., copies: _Optional[_Iterable[_Union[CopyExplanation, _Mapping]]] = ..., nextPlacement: _Optional[_Iterable[_Union[PlacementCandidate, _Mapping]]] = ..., minCopies: _Optional[int] = ..., maxCopies: _Optional[int] = ...) -> None: ...

class SetModelCopiesRequest(_message.Message):
    __slots__ = ("modelId", "minCopies", "maxCopies")
    MODELID_FIELD_NUMBER: _ClassVar[int]
    MINCOPIES_FIELD_NUMBER: _ClassVar[int]
    MAXCOPIES_FIELD_NUMBER: _ClassVar[int]
    modelId: str
    minCopies: int
    maxCopies: int
    def __init__(self, modelId: _Optional[str] = ..., minCopies: _Optional[int] = ..., maxCopies: _Optional[int] = ...) -> None: ...
