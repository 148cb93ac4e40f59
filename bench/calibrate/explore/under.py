import sys, numpy as np
from PIL import Image, ImageDraw
from pathlib import Path
from scipy.spatial import ConvexHull
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parent)); from sclera import sess, run_mesh, EYES
def luma(a): return a@[0.299,0.587,0.114]
def poly_mask(shape,poly):
    mk=Image.new('L',(shape[1],shape[0]),0); ImageDraw.Draw(mk).polygon([tuple(p) for p in poly],fill=1); return np.asarray(mk)>0
G=[1.0,0.8,0.7,0.6,0.5,0.4]
rows=[]
for f in sorted(Path('/tmp/calib_bias/photos/navy').glob('*.jpg')):
    img=np.asarray(Image.open(f).convert('RGB')).astype(float)
    m=run_mesh(sess,img.astype(np.uint8),(179,260),330)
    m=run_mesh(sess,img.astype(np.uint8),tuple(m[:,:2].mean(0)),1.7*np.linalg.norm(m[234,:2]-m[454,:2]))
    subj=img.min(2)<245
    hull=m[ConvexHull(m[:,:2]).vertices,:2]; fm=poly_mask(img.shape,hull)
    ems=[poly_mask(img.shape,m[e][:,:2]) for e in EYES]
    r=[f.name[:3]]
    for g in G:
        im=img.copy(); im[subj]*=g
        # JPEG round trip skipped
        Y=luma(im)
        ew=max(np.percentile(Y[e],90) for e in ems)
        r.append((round(ew),round(Y[fm].mean())))
    rows.append(r)
    print(r, flush=True)
